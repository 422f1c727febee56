// moved-settings: what happens when a contact announces a move (XEP-0283) — automatic, ask me, or off.
import { command, type Command } from "../adhoc/command.js";
import { completed } from "../adhoc/command.js";
import { FormError } from "../adhoc/forms.js";
import type { AppServices } from "../services.js";
import type { MovedMode } from "../storage/schema.js";
import { movedMode, setMovedMode } from "../contact-moves/inbound.js";

const MODES: { value: MovedMode; label: string }[] = [
  {
    value: "automatic",
    label: "Automatic: approve verified moves, keep name and groups, retire the old address",
  },
  { value: "ask", label: "Ask me: tell me about verified moves, I approve in my app" },
  { value: "off", label: "Off: treat them as ordinary subscription requests" },
];

export function movedSettingsCommand(s: AppServices): Command {
  return command("moved-settings", "When a contact moves", "user", async (ctx) => {
    const current = await movedMode(s.db, ctx.user);
    return {
      status: "executing",
      action: "complete",
      form: {
        title: "When a contact moves to a new address",
        instructions:
          "Contacts who move announce it with XEP-0283; the old account's statement is always verified first.",
        fields: [
          {
            var: "mode",
            type: "list-single",
            label: "Handling",
            value: current,
            options: MODES,
            required: true,
          },
        ],
      },
      async onSubmit(v, c) {
        const mode = v.text("mode") as MovedMode;
        if (!MODES.some((m) => m.value === mode)) throw new FormError("Unknown setting");
        await setMovedMode(s.db, c.user, mode);
        return completed(`Saved: ${MODES.find((m) => m.value === mode)?.label ?? mode}.`);
      },
    };
  });
}
