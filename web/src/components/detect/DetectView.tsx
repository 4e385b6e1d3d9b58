"use client";

import { useCallback, useId, useState } from "react";

import { useApp } from "@/components/AppProvider";
import { ErrorNotice } from "@/components/ErrorNotice";
import { PendingStatus } from "@/components/PendingStatus";
import { useUpload } from "@/components/useUpload";
import { WorkerNotice } from "@/components/WorkerNotice";
import { ApiError } from "@/lib/errors";
import type { Detection } from "@/lib/types";
import { toFormData } from "@/lib/upload";

import { BoxOverlay } from "./BoxOverlay";
import { DetectResult } from "./DetectResult";
import { Dropzone } from "./Dropzone";

interface Picked {
  file: File;
  url: string;
  isImage: boolean;
}

export function DetectView() {
  const { t, settings } = useApp();
  const [picked, setPicked] = useState<Picked | null>(null);
  const [prompt, setPrompt] = useState("");
  const [active, setActive] = useState<number | null>(null);
  const upload = useUpload<Detection>("/detect-fields", settings.modelTimeoutMs);
  const { setError, reset } = upload;
  const { result, error, pending } = upload;
  const promptId = useId();

  const pick = useCallback((file: File | undefined) => {
    if (!file) return;
    const isImage = file.type.startsWith("image/");
    if (!isImage && file.type !== "application/pdf") {
      setError(new ApiError("unsupported_media_type", t("detect.not_image")));
      return;
    }
    setPicked((previous) => {
      if (previous) URL.revokeObjectURL(previous.url);
      return { file, url: URL.createObjectURL(file), isImage };
    });
    reset();
    setActive(null);
  }, [t, setError, reset]);

  const submit = () => {
    if (!picked) return;
    void upload.submit({ form: toFormData({ image: { blob: picked.file, name: picked.file.name }, prompt: prompt.trim() }) });
  };

  return (
    <div className="mx-auto w-full max-w-7xl space-y-4 px-3 py-6 sm:px-6">
      <header>
        <h1 className="text-2xl font-semibold">{t("detect.title")}</h1>
        <p className="mt-1 text-slate-600 dark:text-slate-400">{t("detect.intro")}</p>
      </header>
      <WorkerNotice />

      <Dropzone fileName={picked ? picked.file.name : null} onPick={pick} />

      <div className="flex flex-wrap items-end gap-3">
        <div className="min-w-[16rem] flex-1">
          <label htmlFor={promptId} className="field-label">{t("detect.prompt")}</label>
          <input id={promptId} className="text-input mt-1" value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        </div>
        <button type="button" className="btn-primary" disabled={!picked || !!pending} onClick={submit} data-testid="detect-submit">
          {t("detect.submit")}
        </button>
        {pending && <PendingStatus label={t("detect.working")} onCancel={upload.cancel} />}
      </div>

      {error && <ErrorNotice error={error} onRetry={picked ? submit : undefined} onDismiss={() => setError(null)} />}

      {picked && (
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-[minmax(0,1fr)_20rem]">
          <div className="card flex justify-center overflow-auto">
            {picked.isImage ? (
              <BoxOverlay
                src={picked.url}
                alt={t("detect.image_alt")}
                boxes={result?.body.bboxes ?? []}
                imageSize={result?.body.image_size ?? null}
                active={active}
                onActive={setActive}
              />
            ) : (
              <p className="py-10 text-slate-600 dark:text-slate-400">{picked.file.name}</p>
            )}
          </div>
          {result && <DetectResult fileName={picked.file.name} result={result} active={active} onActive={setActive} />}
        </div>
      )}
    </div>
  );
}
