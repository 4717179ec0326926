"""cloudpods-operator: installs every Cloudpods service from one OnecloudCluster and keeps it on the right image."""

__version__ = "0.1.0"
