// Host actions aimed at a user or the room, as every part of the page starts them (message
// menu, user card, member menu, slash commands, host panel lists): one place that asks for a
// confirmation where an action is hard to take back, sends the `moderate` frame, and shows a
// notice with "Undo" where the protocol has an inverse (timeout → untimeout, ban → unban,
// pin → unpin, lock ↔ unlock, slow mode → the previous value, mod ↔ unmod).

import { t } from "./i18n.js";
import { RANK, isHost } from "./roles.js";
import { askTimeout, askBan, askKick, confirmDialog, fmtDuration } from "./dialogs.js";

const UNDO_MS = 10_000;

export class ModActions {
  /** ctx: {moderate(action, params): Promise<result>, notify(text, opts), role(): string,
   *  me(): user, settings(): {slow_mode, locked}, changed(): void (lists may have changed)} */
  constructor(ctx) {
    this.ctx = ctx;
  }

  /** Whether our role may act on a user whose role is `role` (strictly outrank, not ourselves). */
  canTarget(user) {
    const mine = this.ctx.role();
    return isHost(mine) && user && user.id !== this.ctx.me().id && (RANK[mine] || 0) > (RANK[user.role] || 0);
  }

  isOwner() {
    return (RANK[this.ctx.role()] || 0) >= RANK.owner;
  }

  async run(action, params, done, undo) {
    const result = await this.ctx.moderate(action, params);
    this.ctx.changed?.();
    if (done) {
      this.ctx.notify(done, {
        ttl: undo ? UNDO_MS : 4000, key: "mod-done", code: `did_${action}`,
        action: undo ? { label: t("undo"), run: () => undo().catch(() => {}) } : null,
      });
    }
    return result;
  }

  named(user, extra = {}) {
    return { user_id: user.id, ...(user.name ? { name: user.name } : {}), ...extra };
  }

  /** seconds null: ask (presets, custom, reason) first. */
  async timeout(user, seconds = null, reason = "") {
    if (seconds === null) {
      const picked = await askTimeout(user.name || user.id);
      if (!picked) return null;
      ({ seconds, reason } = picked);
    }
    const name = user.name || user.id;
    return this.run("timeout", this.named(user, { seconds, ...(reason ? { reason } : {}) }),
      t("did_timeout", { name, d: fmtDuration(seconds) }), () => this.untimeout(user, false));
  }

  untimeout(user, say = true) {
    return this.run("untimeout", this.named(user), say ? t("did_untimeout", { name: user.name || user.id }) : null);
  }

  /** reason null: confirm (with a reason) first; slash commands pass their reason. */
  async ban(user, reason = null) {
    if (reason === null) {
      const picked = await askBan(user.name || user.id);
      if (!picked) return null;
      reason = picked.reason;
    }
    return this.run("ban", this.named(user, reason ? { reason } : {}), t("did_ban", { name: user.name || user.id }),
      () => this.unban(user, false));
  }

  /** reason null: confirm (with a reason) first. No undo: a kicked member may simply rejoin. */
  async kick(user, reason = null) {
    if (reason === null) {
      const picked = await askKick(user.name || user.id);
      if (!picked) return null;
      reason = picked.reason;
    }
    return this.run("kick", this.named(user, reason ? { reason } : {}), t("did_kick", { name: user.name || user.id }));
  }

  unban(user, say = true) {
    return this.run("unban", this.named(user), say ? t("did_unban", { name: user.name || user.id }) : null,
      say ? () => this.ban(user, "") : null);
  }

  addModerator(user) {
    return this.run("add_moderator", { user_id: user.id }, t("did_mod", { name: user.name || user.id }),
      () => this.removeModerator(user, false));
  }

  removeModerator(user, say = true) {
    return this.run("remove_moderator", { user_id: user.id }, say ? t("did_unmod", { name: user.name || user.id }) : null,
      say ? () => this.addModerator(user) : null);
  }

  pin(ev) {
    return this.run("pin", { offset: ev.offset, message_id: ev.id }, t("did_pin"), () => this.ctx.moderate("unpin", {}));
  }

  del(ev) {
    return this.run("delete", { offset: ev.offset, message_id: ev.id }, t("did_delete"));
  }

  slow(seconds) {
    const before = Number(this.ctx.settings().slow_mode || 0);
    return this.run("slow_mode", { seconds }, seconds > 0 ? t("notice_slow_on", { s: seconds }) : t("notice_slow_off"),
      () => this.ctx.moderate("slow_mode", { seconds: before }));
  }

  lock(on) {
    return this.run(on ? "lock" : "unlock", {}, t(on ? "notice_locked" : "notice_unlocked"),
      () => this.ctx.moderate(on ? "unlock" : "lock", {}));
  }

  /** Clearing cannot be undone: always confirmed, unless `confirmed`. */
  async clear(confirmed = false) {
    if (!confirmed && !(await confirmDialog(t("confirm_clear"), t("confirm_clear_text"), t("clear_chat")))) return null;
    return this.run("clear", {}, t("did_clear"));
  }
}
