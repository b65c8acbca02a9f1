from zeroshot.core.provenance import provenance, stamp_markdown


def test_provenance_names_commit_versions_command_and_machine():
    rec = provenance("zeroshot bench --quick", accelerator="none")
    assert rec["command"] == "zeroshot bench --quick"
    assert "zeroshot" in rec["packages"] and "numpy" in rec["packages"]
    assert rec["git"]["commit"] is None or len(rec["git"]["commit"]) == 40
    assert "CPU cores" in rec["machine"]
    text = "\n".join(stamp_markdown(rec))
    assert "Commit:" in text and "zeroshot bench --quick" in text and "Accelerator: none" in text
