// A real component connection to the throwaway Prosody, with a quiet logger.
import { createComponentLink, type ComponentLink } from "../../src/xmpp/component-link.js";
import { createLogger } from "../../src/log/logger.js";
import type { Prosody } from "./prosody.js";

/** `setup` runs before the stream opens, so listeners see the privilege advertisements. */
export async function connectComponent(
  prosody: Prosody,
  setup?: (link: ComponentLink) => void,
): Promise<ComponentLink> {
  const link = createComponentLink({
    service: prosody.componentService,
    domain: prosody.component,
    secret: prosody.secret,
    log: createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
  });
  setup?.(link);
  await link.start();
  return link;
}
