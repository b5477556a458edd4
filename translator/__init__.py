"""LiveBridge translation: language detection, MarianMT backends, batching, caching, workers.

Imports nothing else of LiveBridge.  Importing this package is cheap: torch, transformers and
ctranslate2 are imported only when a backend loads a model.  The server uses
``translator.service.TranslationService`` and ``translator.detect``; see docs/translation.md.
"""
