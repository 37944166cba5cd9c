"""What one GraphQL request may cost, checked before anything runs; every refusal names its limit.

| limit | value | checked by |
| --- | --- | --- |
| tokens in the document | MAX_TOKENS | graphql-core's parser (Strawberry's MaxTokensLimiter) stops there |
| depth | schema.MAX_DEPTH | Strawberry's QueryDepthLimiter rule |
| depth of introspection (`__schema`, `__type`) | MAX_INTROSPECTION_DEPTH | INTROSPECTION_DEPTH_RULE below |
| aliases | MAX_ALIASES | Strawberry's MaxAliasesLimiter rule |
| root fields of a query | MAX_ROOT_FIELDS | ROOT_FIELDS_RULE below |
| mutations (root fields of a mutation) | MAX_MUTATIONS | ROOT_FIELDS_RULE below |

Database round trips: only root fields reach Postgres (nested fields are read from what the root returned),
each on one pooled connection: the pool's pre-ping, BEGIN, at most two statements (topMovies: the page and
max(updated_at); movie(id): one), ROLLBACK, and a PREPARE the first time a statement is seen on that
connection: ROUND_TRIPS_PER_ROOT_FIELD = 6. So a query needs at most MAX_ROUND_TRIPS = MAX_ROOT_FIELDS x 6 =
30, a mutation none (one Kafka produce), a response reused from the cache (readmodel.cache) none at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

# The demo's and the benchmark's queries have 20-45 tokens; a 2,000-alias attack has ~20,000.
MAX_TOKENS = 1000
# Aliases are how one request repeats a field; legitimate clients alias a root field or two.
MAX_ALIASES = 10
MAX_ROOT_FIELDS = 5
# Strawberry's depth rule skips every field whose name starts with "__", and graphql-core's
# MaxIntrospectionDepthRule bounds only the nesting of `fields`, `interfaces`, `possibleTypes` and
# `inputFields`: neither bounds `ofType { ofType { ... } }`. The deepest standard introspection is
# graphql-core's query with its default type depth of 9: 14 levels (GraphiQL's, from graphql-js 16, is
# shallower).
MAX_INTROSPECTION_DEPTH = 14
# One write per request: the per-key rate limit counts requests, so it is also the key's write rate.
MAX_MUTATIONS = 1
ROUND_TRIPS_PER_ROOT_FIELD = 6
MAX_ROUND_TRIPS = MAX_ROOT_FIELDS * ROUND_TRIPS_PER_ROOT_FIELD
COSTLY = "QUERY_TOO_COSTLY"
# The refusals of graphql-core's token limit and Strawberry's depth and alias rules carry no code, only these
# messages (graphql-core 3.3, Strawberry 0.341).
LIBRARY_REFUSAL = re.compile(r"more than \d+ tokens|exceeds maximum operation depth|aliases found\. Allowed")


def is_refusal(error: GraphQLError) -> bool:
    """Whether `error` refuses a request for its cost (any limit in the table above)."""
    code = (error.extensions or {}).get("code")
    return code == COSTLY or (error.original_error is None and bool(LIBRARY_REFUSAL.search(error.message)))


def too_costly(message: str, limit: str, maximum: int) -> GraphQLError:
    return GraphQLError(
        message,
        extensions={
            "code": COSTLY,
            "limit": limit,
            "maximum": maximum,
            "suggestion": "Split the work into several requests.",
        },
    )


class RootFieldsRule(ValidationRule):
    """At most MAX_ROOT_FIELDS root fields per query and MAX_MUTATIONS per mutation, fragments included."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        document = context.document
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        for operation in document.definitions:
            if not isinstance(operation, OperationDefinitionNode):
                continue
            count = _root_fields(operation.selection_set, fragments, frozenset())
            if operation.operation == OperationType.MUTATION and count > MAX_MUTATIONS:
                context.report_error(
                    too_costly(
                        f"{count} mutations in one request; the limit is {MAX_MUTATIONS} (maxMutations)",
                        "maxMutations",
                        MAX_MUTATIONS,
                    )
                )
            elif count > MAX_ROOT_FIELDS:
                context.report_error(
                    too_costly(
                        f"{count} root fields in one request; the limit is {MAX_ROOT_FIELDS} (maxRootFields)",
                        "maxRootFields",
                        MAX_ROOT_FIELDS,
                    )
                )


ROOT_FIELDS_RULE = RootFieldsRule


class IntrospectionDepthRule(ValidationRule):
    """At most MAX_INTROSPECTION_DEPTH levels of fields under `__schema` or `__type`, fragments included."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        document = context.document
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        depths: dict[str, int] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                self._check(definition.selection_set, fragments, depths)

    def _check(
        self,
        selection_set: SelectionSetNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        depths: dict[str, int],
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode) and selection.name.value in ("__schema", "__type"):
                depth = _depth(selection, fragments, depths)
                if depth > MAX_INTROSPECTION_DEPTH:
                    self.report_error(
                        too_costly(
                            f"Introspection {depth} levels deep; the limit is {MAX_INTROSPECTION_DEPTH} "
                            "(maxIntrospectionDepth)",
                            "maxIntrospectionDepth",
                            MAX_INTROSPECTION_DEPTH,
                        )
                    )
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                self._check(selection.selection_set, fragments, depths)


INTROSPECTION_DEPTH_RULE = IntrospectionDepthRule


def _depth(
    node: FieldNode | InlineFragmentNode | FragmentDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    depths: dict[str, int],
) -> int:
    """Levels of fields from `node` down (a field with no selections is 0). Each fragment's depth is computed
    once per document, so repeated spreads cost nothing more; a fragment being computed counts 0 (a cycle,
    which graphql-core's NoFragmentCyclesRule refuses anyway)."""
    if not node.selection_set:
        return 0
    deepest = 0
    for selection in node.selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in depths and name in fragments:
                depths[name] = 0
                depths[name] = _depth(fragments[name], fragments, depths)
            deepest = max(deepest, depths.get(name, 0))
        elif isinstance(selection, FieldNode | InlineFragmentNode):
            deepest = max(deepest, _depth(selection, fragments, depths))
    return deepest + 1 if isinstance(node, FieldNode) else deepest


def _root_fields(
    selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode], seen: frozenset[str]
) -> int:
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            # __typename costs nothing.
            count += selection.name.value != "__typename"
        elif isinstance(selection, InlineFragmentNode):
            count += _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                count += _root_fields(fragments[name].selection_set, fragments, seen | {name})
    return count
