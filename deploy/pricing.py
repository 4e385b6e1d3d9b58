"""On-demand list prices per hour of what the tool deploys: approximate, dated, for one stated region each.

They are the providers' published pay-as-you-go prices as read from their pricing pages on PRICES_AS_OF (no
discounts, savings plans, spot or taxes; storage, network and logging extra). Prices change and differ by region:
`status` prints them as an estimate, and deploy/README.md says where to check the current figure.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2025-06"


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    region: str
    what: str


# SageMaker real-time inference, per instance-hour, us-east-1.
SAGEMAKER = {
    "ml.g4dn.xlarge": Price(0.7364, "us-east-1", "1x NVIDIA T4 16 GB, 4 vCPU, 16 GiB"),
    "ml.g5.xlarge": Price(1.408, "us-east-1", "1x NVIDIA A10G 24 GB, 4 vCPU, 16 GiB"),
    "ml.g5.2xlarge": Price(1.515, "us-east-1", "1x NVIDIA A10G 24 GB, 8 vCPU, 32 GiB"),
    "ml.g6.xlarge": Price(1.2064, "us-east-1", "1x NVIDIA L4 24 GB, 4 vCPU, 16 GiB"),
}

# Vertex AI online prediction, per node-hour, us-central1: the machine, plus each accelerator.
VERTEX_MACHINES = {
    "n1-standard-4": Price(0.2185, "us-central1", "4 vCPU, 15 GiB (with a T4)"),
    "n1-standard-8": Price(0.4370, "us-central1", "8 vCPU, 30 GiB (with a T4)"),
    "g2-standard-8": Price(0.9847, "us-central1", "8 vCPU, 32 GiB, 1x NVIDIA L4 24 GB included"),
    "g2-standard-12": Price(1.1560, "us-central1", "12 vCPU, 48 GiB, 1x NVIDIA L4 24 GB included"),
}
VERTEX_ACCELERATORS = {
    "NVIDIA_TESLA_T4": Price(0.4025, "us-central1", "NVIDIA T4 16 GB"),
    "NVIDIA_L4": Price(0.0, "us-central1", "NVIDIA L4 24 GB (priced within the g2 machine)"),
}

# Azure Machine Learning managed online endpoints bill the VM, Linux pay-as-you-go, East US.
AZURE = {
    "Standard_NC4as_T4_v3": Price(0.526, "eastus", "1x NVIDIA T4 16 GB, 4 vCPU, 28 GiB"),
    "Standard_NC8as_T4_v3": Price(0.752, "eastus", "1x NVIDIA T4 16 GB, 8 vCPU, 56 GiB"),
    "Standard_NC24ads_A100_v4": Price(3.673, "eastus", "1x NVIDIA A100 80 GB, 24 vCPU, 220 GiB"),
}

# Cloud Run with instance-based billing, us-central1 (tier 1), per second while an instance runs; none when scaled
# to zero. A GPU instance needs at least 4 vCPU and 16 GiB.
CLOUD_RUN_PER_SECOND = {
    "nvidia-l4": 0.0001867,  # per GPU-second, without zonal redundancy
    "vcpu": 0.000018,  # per vCPU-second
    "gib": 0.000002,  # per GiB-second of memory
}
CLOUD_RUN_REGION = "us-central1"


def cloud_run_hourly(gpus: int, vcpus: float, memory_gib: float) -> float:
    """What one running Cloud Run GPU instance costs per hour."""
    per_second = (
        gpus * CLOUD_RUN_PER_SECOND["nvidia-l4"]
        + vcpus * CLOUD_RUN_PER_SECOND["vcpu"]
        + memory_gib * CLOUD_RUN_PER_SECOND["gib"]
    )
    return per_second * 3600


def describe(price: Price | None, sku: str, count: int = 1) -> str:
    """`$1.41/h (ml.g5.xlarge, us-east-1 list price 2025-06)`, or a sentence saying the SKU has no price here."""
    if price is None:
        return f"no price on file for {sku} (see deploy/README.md for the pricing pages)"
    return f"${price.usd_per_hour * count:.2f}/h ({count}x {sku}, {price.region} list price {PRICES_AS_OF})"
