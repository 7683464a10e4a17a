"""newsbot: ask questions of news articles, get back verbatim quoted passages with their sources.

OpenBLAS is kept to one thread unless the environment says otherwise: the engine multiplies only
small matrices (a question's few dozen candidates), where BLAS threads cost far more than they
save and, on a busy machine, spin against each other (20× slower on two loaded cores). It must be
set before NumPy is first imported, hence here.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
