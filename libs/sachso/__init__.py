"""Sách Số shared code: `sachso.kit` (plumbing) and the generated contracts (`sachso.<context>.v1`)."""
