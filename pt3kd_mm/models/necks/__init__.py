from .concept_query_decoder import ConceptQueryDecoder
from .point_mae_decoder import PointMAEDecoder

__all__ = ['ConceptQueryDecoder', 'PointMAEDecoder']
