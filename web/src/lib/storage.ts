/** localStorage that never throws: private mode and blocked storage read as "nothing saved". */

/** The open chat, so a reload (or the voice page) finds it again. */
export const SESSION_KEY = "chat.session";
/** The chat's temperature / top P / max tokens. */
export const PARAMS_KEY = "chat.params";

export function readStored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Save `value`, or forget the key when it is null. Failures are ignored (the URL still carries the session). */
export function writeStored(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Private mode: nothing is remembered, the page still works.
  }
}
