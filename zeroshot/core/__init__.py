"""The pure core shared by every engine. It imports no engine and no model library."""
