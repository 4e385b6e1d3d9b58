"""Tests of deploy/: the Helm chart rendered and validated offline."""
