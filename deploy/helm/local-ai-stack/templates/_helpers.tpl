{{/* Names, labels, images, security contexts and secrets shared by every template. */}}

{{- define "local-ai-stack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's prefix: at most 40 characters, so "<fullname>-ollama-pull-<hash>" fits a 63-character name. */}}
{{- define "local-ai-stack.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "local-ai-stack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "llm-api"). */}}
{{- define "local-ai-stack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "local-ai-stack.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every object's labels: (dict "root" $ "component" "llm-api"). */}}
{{- define "local-ai-stack.labels" -}}
{{ include "local-ai-stack.selectorLabels" . }}
app.kubernetes.io/part-of: local-ai-stack
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "local-ai-stack.chart" .root }}
{{- end -}}

{{/* Component names. */}}
{{- define "local-ai-stack.ollama.name" -}}{{ include "local-ai-stack.fullname" . }}-ollama{{- end -}}
{{- define "local-ai-stack.worker.name" -}}{{ include "local-ai-stack.fullname" . }}-model-worker{{- end -}}
{{- define "local-ai-stack.llmApi.name" -}}{{ include "local-ai-stack.fullname" . }}-llm-api{{- end -}}
{{- define "local-ai-stack.web.name" -}}{{ include "local-ai-stack.fullname" . }}-web{{- end -}}
{{- define "local-ai-stack.postgresql.name" -}}{{ include "local-ai-stack.fullname" . }}-postgresql{{- end -}}
{{- define "local-ai-stack.realtime.name" -}}{{ include "local-ai-stack.fullname" . }}-realtime{{- end -}}

{{- define "local-ai-stack.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "local-ai-stack.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "local-ai-stack.llmApi.serviceAccountName" -}}
{{- if .Values.llmApi.serviceAccount.create -}}
{{- default (include "local-ai-stack.llmApi.name" .) .Values.llmApi.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.llmApi.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
An image reference: (dict "root" $ "image" .Values.web.image "own" true). The registry falls back to
global.imageRegistry; the tag of the stack's own images (own: llm-api, model-worker, web, realtime) to the chart's appVersion.
A `latest` tag, or none, fails the render: every image is pinned.
*/}}
{{- define "local-ai-stack.image" -}}
{{- $registry := .image.registry | default .root.Values.global.imageRegistry -}}
{{- $tag := .image.tag | default (ternary .root.Chart.AppVersion "" (eq .own true)) | toString -}}
{{- if or (eq $tag "") (eq $tag "latest") -}}
{{- fail (printf "image %s: pin a version tag (got %q); `latest` is not allowed" .image.repository $tag) -}}
{{- end -}}
{{- $ref := printf "%s:%s" .image.repository $tag -}}
{{- if $registry -}}{{- $ref = printf "%s/%s" (trimSuffix "/" $registry) $ref -}}{{- end -}}
{{- if .image.digest -}}{{- $ref = printf "%s@%s" $ref .image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* imagePullSecrets, or nothing: (dict "root" $ "indent" 6); the output starts a new line of its own. */}}
{{- define "local-ai-stack.imagePullSecrets" -}}
{{- with .root.Values.global.imagePullSecrets }}
{{- $names := list }}
{{- range . }}
{{- if kindIs "map" . }}{{ $names = append $names (dict "name" .name) }}{{ else }}{{ $names = append $names (dict "name" .) }}{{ end }}
{{- end }}
{{- dict "imagePullSecrets" $names | toYaml | nindent $.indent }}
{{- end }}
{{- end -}}

{{/* A pod's securityContext: the component's user, always non-root with the runtime's default seccomp profile. */}}
{{- define "local-ai-stack.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  {{- toYaml . | nindent 2 }}
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "local-ai-stack.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}

{{/*
An environment value as a string. YAML numbers reach templates as float64 (40000000 would print as 4e+07), so
whole numbers are printed as integers.
*/}}
{{- define "local-ai-stack.envValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq (float64 (int64 .)) . }}{{ int64 . | toString | quote }}{{ else }}{{ toString . | quote }}{{ end -}}
{{- else -}}
{{- toString . | quote -}}
{{- end -}}
{{- end -}}

{{/* A map of environment variables, sorted by name. */}}
{{- define "local-ai-stack.envMap" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ include "local-ai-stack.envValue" $value }}
{{- end }}
{{- end -}}

{{/*
Scheduling of a pod, or nothing: (dict "root" $ "component" "model-worker" "values" .Values.worker "gpu" true
"indent" 6); the output starts a new line of its own. A topology spread constraint without a labelSelector gets the
component's selector labels. GPU pods also get gpu.nodeSelector,
gpu.tolerations and gpu.runtimeClassName.
*/}}
{{- define "local-ai-stack.scheduling" -}}
{{- $out := include "local-ai-stack.schedulingFields" . | trim -}}
{{- if $out }}{{ $out | nindent .indent }}{{ end -}}
{{- end -}}

{{- define "local-ai-stack.schedulingFields" -}}
{{- $nodeSelector := dict -}}
{{- $tolerations := list -}}
{{- if .gpu -}}
{{- $nodeSelector = mergeOverwrite $nodeSelector (deepCopy .root.Values.gpu.nodeSelector) -}}
{{- $tolerations = concat $tolerations .root.Values.gpu.tolerations -}}
{{- end -}}
{{- $nodeSelector = mergeOverwrite $nodeSelector (deepCopy (.values.nodeSelector | default dict)) -}}
{{- $tolerations = concat $tolerations (.values.tolerations | default list) -}}
{{- if and .gpu .root.Values.gpu.runtimeClassName }}
runtimeClassName: {{ .root.Values.gpu.runtimeClassName }}
{{- end }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
{{- $constraints := list }}
{{- range . }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "local-ai-stack.selectorLabels" (dict "root" $.root "component" $.component) | fromYaml)) }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
topologySpreadConstraints:
  {{- toYaml $constraints | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Whether a component gets a GPU: (dict "root" $ "values" .Values.worker). "true" or "". */}}
{{- define "local-ai-stack.usesGpu" -}}
{{- if and .root.Values.gpu.enabled (gt (int .values.gpu.count) 0) }}true{{ end -}}
{{- end -}}

{{/* A component's resources with its GPUs added to the limits: (dict "root" $ "values" .Values.worker). */}}
{{- define "local-ai-stack.resources" -}}
{{- $resources := deepCopy (.values.resources | default dict) -}}
{{- if include "local-ai-stack.usesGpu" . -}}
{{- $limits := $resources.limits | default dict -}}
{{- $_ := set $limits .root.Values.gpu.resourceName (int .values.gpu.count) -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
resources:
  {{- toYaml $resources | nindent 2 }}
{{- end -}}

{{/*
A secret value generated once: the value already stored in the live Secret (helm install/upgrade), else a new
random one (a first install, or `helm template`, where lookup finds nothing). (dict "root" $ "name" "x" "key" "k").
*/}}
{{- define "local-ai-stack.generatedSecret" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}

{{/* Secret names. */}}
{{- define "local-ai-stack.apiKeySecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-api-key" (include "local-ai-stack.fullname" .)) -}}
{{- end -}}

{{- define "local-ai-stack.databaseSecretName" -}}
{{- .Values.database.external.existingSecret | default (printf "%s-database" (include "local-ai-stack.fullname" .)) -}}
{{- end -}}

{{- define "local-ai-stack.databaseSecretKey" -}}
{{- if .Values.database.external.existingSecret }}{{ .Values.database.external.existingSecretKey }}{{ else }}database-url{{ end -}}
{{- end -}}

{{- define "local-ai-stack.postgresql.secretName" -}}
{{- .Values.postgresql.auth.existingSecret | default (include "local-ai-stack.postgresql.name" .) -}}
{{- end -}}

{{- define "local-ai-stack.postgresql.password" -}}
{{- .Values.postgresql.auth.password | default (include "local-ai-stack.generatedSecret" (dict "root" . "name" (include "local-ai-stack.postgresql.name" .) "key" "password")) -}}
{{- end -}}

{{- define "local-ai-stack.hfTokenSecretName" -}}
{{- .Values.worker.hfToken.existingSecret | default (printf "%s-hf-token" (include "local-ai-stack.fullname" .)) -}}
{{- end -}}

{{/* A backend's environment prefix: gemini -> OPENAI_BACKEND_GEMINI (as llm_api/config.py derives it). */}}
{{- define "local-ai-stack.backendPrefix" -}}
OPENAI_BACKEND_{{ .name | upper | replace "-" "_" }}
{{- end -}}

{{/* The URLs the llm-api reaches its peers at. */}}
{{- define "local-ai-stack.ollamaUrl" -}}
{{- if .Values.ollama.enabled -}}
http://{{ include "local-ai-stack.ollama.name" . }}:11434
{{- else -}}
{{- .Values.ollama.externalUrl | default "none" -}}
{{- end -}}
{{- end -}}

{{- define "local-ai-stack.workerUrl" -}}
http://{{ include "local-ai-stack.worker.name" . }}:{{ .Values.worker.service.port }}
{{- end -}}

{{/* REALTIME_URL: the real-time voice service, or `none` (the llm-api's /realtime/status says "switched off"). */}}
{{- define "local-ai-stack.realtimeUrl" -}}
{{- if .Values.realtime.enabled -}}
http://{{ include "local-ai-stack.realtime.name" . }}:{{ .Values.realtime.service.port }}
{{- else -}}
none
{{- end -}}
{{- end -}}

{{/* Checks that fail the render with a readable message. */}}
{{- define "local-ai-stack.validate" -}}
{{- $external := or .Values.database.external.url .Values.database.external.existingSecret -}}
{{- if and .Values.postgresql.enabled $external -}}
{{- fail "database: set either postgresql.enabled or database.external (url or existingSecret), not both" -}}
{{- end -}}
{{- if not (or .Values.postgresql.enabled $external) -}}
{{- fail "database: the llm-api needs PostgreSQL: keep postgresql.enabled, or set database.external.url or database.external.existingSecret" -}}
{{- end -}}
{{- if and .Values.database.external.url (not (regexMatch "^postgres(ql)?://" .Values.database.external.url)) -}}
{{- fail "database.external.url must be a postgresql:// URL" -}}
{{- end -}}
{{- if and .Values.llmApi.cloudSqlProxy.enabled (not .Values.llmApi.cloudSqlProxy.instanceConnectionName) -}}
{{- fail "llmApi.cloudSqlProxy.instanceConnectionName is required (PROJECT:REGION:INSTANCE)" -}}
{{- end -}}
{{- if and .Values.llmApi.cloudSqlProxy.enabled .Values.postgresql.enabled -}}
{{- fail "llmApi.cloudSqlProxy connects to Cloud SQL: it needs an external database (postgresql.enabled=false, database.external)" -}}
{{- end -}}
{{- if eq (int .Values.llmApi.metricsPort) (int .Values.llmApi.service.port) -}}
{{- fail "llmApi.metricsPort must differ from llmApi.service.port: the API port never serves /metrics without API_KEY" -}}
{{- end -}}
{{- $names := list -}}
{{- range .Values.openaiBackends -}}
{{- if not (regexMatch "^[a-z][a-z0-9_-]{0,31}$" (.name | default "")) -}}
{{- fail (printf "openaiBackends: name %q must be lowercase letters, digits, - and _ (starting with a letter)" (.name | default "")) -}}
{{- end -}}
{{- if has .name $names -}}{{- fail (printf "openaiBackends: %q is listed twice" .name) -}}{{- end -}}
{{- $names = append $names .name -}}
{{- if not (regexMatch "^https?://" (.baseUrl | default "")) -}}
{{- fail (printf "openaiBackends[%s].baseUrl must be an http(s) URL" .name) -}}
{{- end -}}
{{- if and .apiKey .existingSecret -}}
{{- fail (printf "openaiBackends[%s]: set apiKey or existingSecret, not both" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
