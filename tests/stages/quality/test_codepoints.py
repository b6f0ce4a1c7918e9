import numpy as np
import pyarrow as pa

from stages.charclass import HAN
from stages.quality._codepoints import codepoints


def test_offsets_follow_documents_and_slices():
    arr = pa.array(["跳过", "中文ab", "", "𠀀x"]).slice(1)  # a sliced array starts at a non-zero offset
    cp = codepoints(arr)
    assert cp.starts.tolist() == [0, 4, 4, 6]  # 中文ab = 4, "" = 0, 𠀀x = 2 (𠀀 is one code point)
    assert cp.cps[:4].tolist() == [ord(c) for c in "中文ab"]
    # Han: 中文 -> 2; "" -> 0; 𠀀 (Extension B) -> 1
    assert cp.count_class(HAN).tolist() == [2, 0, 1]


def test_empty_batch():
    cp = codepoints(pa.array([], pa.string()))
    assert cp.n_docs == 0 and len(cp.cps) == 0 and np.array_equal(cp.starts, [0])
