// A small line chart on <canvas>, drawn by hand (no library, no CDN). Each series is
// {label, color, values: [number|null]}; x is the point's index (one point per step).

const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

function niceMax(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

export function drawChart(canvas, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 320;
  const height = canvas.clientHeight || 120;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const style = getComputedStyle(canvas);
  const ink = style.getPropertyValue("--chart-ink").trim() || "#a9a8b8";
  const grid = style.getPropertyValue("--chart-grid").trim() || "#2f2f3a";
  const points = Math.max(2, ...series.map((s) => s.values.length));
  const all = series.flatMap((s) => s.values.filter((v) => typeof v === "number" && Number.isFinite(v)));
  const top = niceMax(Math.max(0, ...all));
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (plotW * i) / (points - 1);
  const y = (v) => PAD.top + plotH - (plotH * v) / top;

  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = ink;
  ctx.strokeStyle = grid;
  ctx.lineWidth = 1;
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    ctx.beginPath();
    ctx.moveTo(PAD.left, y(value));
    ctx.lineTo(width - PAD.right, y(value));
    ctx.stroke();
    ctx.fillText(String(Number(value.toPrecision(3))), 2, y(value) + 4);
  }
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    s.values.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v)) { drawing = false; return; }
      const offset = points - s.values.length; // newest point on the right edge
      if (drawing) ctx.lineTo(x(i + offset), y(v));
      else ctx.moveTo(x(i + offset), y(v));
      drawing = true;
    });
    ctx.stroke();
  }
  let legendX = PAD.left;
  for (const s of series) {
    ctx.fillStyle = s.color;
    ctx.fillRect(legendX, height - 12, 10, 3);
    ctx.fillStyle = ink;
    ctx.fillText(s.label, legendX + 14, height - 6);
    legendX += 14 + ctx.measureText(s.label).width + 12;
  }
  canvas.dataset.points = String(all.length);
}
