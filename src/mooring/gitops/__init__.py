"""The platform repository scaffold and ArgoCD app-of-apps."""
