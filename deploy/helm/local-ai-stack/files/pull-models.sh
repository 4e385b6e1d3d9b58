#!/bin/sh
# Pull the configured models into the ollama service's volume, once.
#
# Runs in the `ollama-init` service (the official ollama image, used as a client): OLLAMA_HOST points at the
# `ollama` service, so every pull lands in the `ollama-data` volume that service owns. A model that is already
# there is never pulled again, so this is instant (and works offline) on every start after the first.
#
#   OLLAMA_PULL_MODELS  models to make present, comma- or space-separated (empty: nothing to do)
#   OLLAMA_HOST         the server to talk to (compose sets http://ollama:11434)
#   OLLAMA_WAIT_S       how long to wait for the server to answer (default 120)
set -eu

models=$(printf '%s' "${OLLAMA_PULL_MODELS:-}" | tr ',' ' ')
if [ -z "$(printf '%s' "$models" | tr -d ' ')" ]; then
  echo "ollama-init: OLLAMA_PULL_MODELS is empty; nothing to pull"
  exit 0
fi

wait_s=${OLLAMA_WAIT_S:-120}
waited=0
until ollama list >/dev/null 2>&1; do
  if [ "$waited" -ge "$wait_s" ]; then
    echo "ollama-init: the Ollama server at ${OLLAMA_HOST:-127.0.0.1:11434} did not answer in ${wait_s}s" >&2
    exit 1
  fi
  sleep 2
  waited=$((waited + 2))
done

failed=""
for model in $models; do
  if ollama show "$model" >/dev/null 2>&1; then
    echo "ollama-init: $model is already in the volume; not pulling it again"
    continue
  fi
  echo "ollama-init: pulling $model (first start only; progress follows)"
  if ollama pull "$model"; then
    echo "ollama-init: $model is ready"
  else
    echo "ollama-init: could not pull $model (no network? wrong name?); the API will report it as not_pulled" >&2
    failed="$failed $model"
  fi
done

if [ -n "$failed" ]; then
  echo "ollama-init: failed:$failed" >&2
  exit 1
fi
echo "ollama-init: all models present"
