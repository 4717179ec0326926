"""cloudpods-operator: runs every Cloudpods service from one OnecloudCluster, on the right image."""

__version__ = "0.1.0"
