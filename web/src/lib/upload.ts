/**
 * One-shot uploads (voice feedback, form detection): a multipart or JSON body POSTed with the
 * request's timeout, the answer kept with the time the person waited for it.
 */
import { errorFromException } from "./errors";
import { apiJson, type TimedRequest } from "./request";

/** A file part: the bytes and the file name the server sees. */
export interface FilePart {
  blob: Blob;
  name: string;
}

export type FormValue = string | FilePart | null | undefined;

/** What an upload sends: a multipart form or a JSON body. */
export type UploadBody = { form: FormData } | { json: unknown };

/** An answer and how long the browser waited for it (request sent → body read), in ms. */
export interface TimedResult<T> {
  body: T;
  clientMs: number;
}

/** A multipart body from named fields, in order; null, undefined and blank strings are left out. */
export function toFormData(fields: Record<string, FormValue>): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value == null) continue;
    if (typeof value === "string") {
      if (value.trim()) form.append(name, value);
    } else {
      form.append(name, value.blob, value.name);
    }
  }
  return form;
}

/** POST `body` to `/api${path}` under `request`; every failure is thrown as the shared ApiError. */
export async function timedUpload<T>(
  path: string,
  body: UploadBody,
  request: TimedRequest,
  now: () => number = () => performance.now(),
): Promise<TimedResult<T>> {
  const started = now();
  try {
    const answer = await apiJson<T>(path, { ...body, timeoutMs: request.timeoutMs, request });
    return { body: answer, clientMs: now() - started };
  } catch (err) {
    throw errorFromException(err, request.reason);
  }
}
