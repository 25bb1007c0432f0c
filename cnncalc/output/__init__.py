"""What people read: tables, JSON, CSV and Markdown (tables), pictures (diagram), the layer
catalogue (catalogue)."""
