"""Schemathesis hooks: strategies for Maillage's custom GraphQL scalars.

`Cents` is an amount in euro cents (a JSON integer, or a string of digits): generate both forms, including values
beyond GraphQL's 32-bit `Int`, which is the reason the scalar exists.
"""

import os

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

schemathesis.graphql.scalar(
    "Cents",
    st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(nodes.Int),
        st.integers(min_value=0, max_value=10**12).map(lambda n: nodes.String(str(n))),
    ),
)

# `NaiveDate` (async-graphql's chrono date): ISO dates, mostly valid, some not.
schemathesis.graphql.scalar(
    "NaiveDate",
    st.one_of(
        st.dates().map(lambda d: nodes.String(d.isoformat())),
        st.text(max_size=12).map(nodes.String),
    ),
)

# `ID`: mostly the IDs the fuzzed database really holds (the script writes them to $MAILLAGE_FUZZ_IDS), so that
# mutations and look-ups reach their rules; sometimes arbitrary text, so that unknown and malformed IDs stay covered.
_ids_file = os.environ.get("MAILLAGE_FUZZ_IDS")
_ids = [line for line in open(_ids_file).read().splitlines() if line] if _ids_file else []
if _ids:
    schemathesis.graphql.scalar(
        "ID",
        st.one_of(
            st.sampled_from(_ids).map(nodes.String),
            st.sampled_from(_ids).map(nodes.String),
            st.sampled_from(_ids).map(nodes.String),
            st.text(max_size=24).map(nodes.String),
        ),
    )
