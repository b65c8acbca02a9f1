"""Score Few-NERD gold against itself and against a perturbed copy.

    python eval/sanity_check.py                       # bundled 200-sentence sample
    python eval/sanity_check.py --data ../shared/data/fewnerd/inter/test.txt.gz \
        --schema fewnerd_inter_test

Prints the expected and the measured micro P/R/F1 of the four SemEval modes and
exits non-zero if they differ. Same code path as ``zeroshot sanity``.
"""

import sys

from zeroshot.cli import main

if __name__ == "__main__":
    sys.exit(main(["sanity", *sys.argv[1:]]))
