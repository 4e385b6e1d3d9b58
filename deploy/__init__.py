"""Deploy the model-worker's one image to a managed cloud: `python -m deploy <cloud> create|test|delete|status`.

Clouds: `sagemaker` (boto3), `vertex` (google-cloud-aiplatform), `azure` (azure-ai-ml) and `cloudrun`
(google-cloud-run, NVIDIA L4). See deploy/README.md for prerequisites, roles, costs and troubleshooting.
"""
