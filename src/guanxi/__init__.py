"""guanxi (关系): a customer-centric CRM."""

__version__ = "0.1.0"
