{{/* The pull Job's pod template (ollama-pull-job.yaml names the Job after its hash). */}}
{{- define "local-ai-stack.ollamaPullPod" -}}
metadata:
  labels:
    {{- include "local-ai-stack.selectorLabels" (dict "root" .root "component" "ollama-pull") | nindent 4 }}
  annotations:
    checksum/script: {{ .script | sha256sum }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "local-ai-stack.serviceAccountName" .root }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- include "local-ai-stack.imagePullSecrets" (dict "root" .root "indent" 2) }}
  {{- include "local-ai-stack.podSecurityContext" .root.Values.ollama.podSecurityContext | nindent 2 }}
  containers:
    # The Ollama image used as a client of the Ollama Service: the server writes the models into its own volume.
    - name: pull-models
      image: {{ include "local-ai-stack.image" (dict "root" .root "image" .root.Values.ollama.image) }}
      imagePullPolicy: {{ .root.Values.ollama.image.pullPolicy }}
      command: ["/bin/sh", "/scripts/pull-models.sh"]
      env:
        - name: OLLAMA_HOST
          value: http://{{ .name }}:11434
        - name: OLLAMA_PULL_MODELS
          value: {{ .root.Values.ollama.pullModels | quote }}
        - name: OLLAMA_WAIT_S
          value: {{ include "local-ai-stack.envValue" .root.Values.ollama.pull.waitSeconds }}
        - name: HOME
          value: /tmp
      {{- include "local-ai-stack.containerSecurityContext" .root | nindent 6 }}
      resources:
        {{- toYaml .root.Values.ollama.pull.resources | nindent 8 }}
      volumeMounts:
        - name: scripts
          mountPath: /scripts
          readOnly: true
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: scripts
      configMap:
        name: {{ .name }}-pull
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}
