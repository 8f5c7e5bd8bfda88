from .reference_cosine_lr import ReferenceCosineLR, reference_cosine_lr

__all__ = ['ReferenceCosineLR', 'reference_cosine_lr']
