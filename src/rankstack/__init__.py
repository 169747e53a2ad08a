"""rankstack: the whole ranking stack (retrieval, re-ranking, learning to rank, evaluation).

The top level stays light: core data types and pipeline operators. Subpackages
(``rankstack.io``, ``rankstack.retrieve``, ``rankstack.evaluate``, ...) import on use.
"""

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.exceptions import RankstackError
from rankstack.pipeline import Cutoff, FeatureUnion, ScoreSum, Stage, Then

__version__ = "0.1.0"

__all__ = [
    "Corpus",
    "Cutoff",
    "FeatureUnion",
    "Qrels",
    "Queries",
    "RankstackError",
    "Run",
    "ScoreSum",
    "Stage",
    "Then",
    "__version__",
]
