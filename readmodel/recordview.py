"""`recordView` without GraphQL execution: the write path's direct lane.

Strawberry's execution of the mutation (`Schema.execute`) costs several times the command it runs (event, Avro
encoding, produce), as py-spy on `bench write` shows (docs/PERFORMANCE.md, "Write path"). A `recordView`
document is the same few shapes from every client, so its work is done once per document text: parsed and
validated as Strawberry would (the schema's own rules), the one root field and its leaf selections looked up.
Per request only the variables are coerced, by graphql-core's own functions, and the command runs directly;
the answer is the same JSON Strawberry would give, errors located and masked as its MaskErrors does.

Whatever this lane would answer differently goes through Strawberry unchanged: any other document, a document
that does not parse or validate, variables that do not coerce (their errors name the argument), a key without
the `views:write` scope. None of those has run the command, so nothing is published twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLString,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    get_argument_values,
    get_nullable_type,
    get_operation_ast,
    get_variable_values,
    located_error,
    parse,
    specified_rules,
    validate,
)

from readmodel.commands import ARGUMENT_NAMES, ViewInput
from readmodel.cost import MAX_TOKENS, ROOT_FIELDS_RULE
from readmodel.schema import (
    ALIASES_RULE,
    DEPTH_RULE,
    DOCUMENT_CACHE_SIZE,
    MASKED_MESSAGE,
    RECORD_VIEW_SCOPE,
    is_unexpected,
)
from readmodel.types import EventAccepted

if TYPE_CHECKING:
    from strawberry import Schema

    from readmodel.context import ReadModelContext

FIELD = "recordView"
VIEW_FIELDS = tuple(ViewInput.__dataclass_fields__)


@dataclass(frozen=True)
class Leaf:
    response_key: str
    attribute: str  # EventAccepted's Python attribute
    type: GraphQLLeafType


@dataclass(frozen=True)
class Plan:
    """A validated document whose operation is `recordView { <leaf fields> }` and nothing else."""

    operation: OperationDefinitionNode
    field: FieldNode
    definition: GraphQLField
    response_key: str
    leaves: tuple[Leaf, ...]


@dataclass(frozen=True)
class Answer:
    """The response body Strawberry would send, and the error whose code sets the HTTP status (if any)."""

    body: dict[str, Any]
    errors: tuple[GraphQLError, ...] = ()


class RecordViews:
    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self._graphql = schema._schema
        self._rules = (*specified_rules, DEPTH_RULE, ALIASES_RULE, ROOT_FIELDS_RULE)
        self.plan = lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(self._plan)

    def _plan(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan of a `recordView` document, None for any other (Strawberry runs those)."""
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLSyntaxError:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation != OperationType.MUTATION or operation.directives:
            return None
        selections = operation.selection_set.selections
        if len(selections) != 1 or not isinstance(field := selections[0], FieldNode):
            return None
        if field.name.value != FIELD or field.directives or field.selection_set is None:
            return None
        if validate(self._graphql, document, self._rules):
            return None
        mutation = self._graphql.mutation_type
        assert mutation is not None  # validation passed: the schema has recordView
        definition = mutation.fields[FIELD]
        accepted = get_nullable_type(definition.type)
        leaves: dict[str, Leaf] = {}
        for selection in field.selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.directives:
                return None  # fragments and @skip/@include: Strawberry's collection rules
            name, key = selection.name.value, (selection.alias or selection.name).value
            if name == "__typename":
                leaves.setdefault(key, Leaf(key, name, GraphQLString))
                continue
            leaf_def = accepted.fields[name]
            attribute = leaf_def.extensions["strawberry-definition"].python_name
            leaves.setdefault(key, Leaf(key, attribute, get_nullable_type(leaf_def.type)))
        return Plan(operation, field, definition, (field.alias or field.name).value, tuple(leaves.values()))

    async def run(
        self, plan: Plan, variables: dict[str, Any] | None, context: ReadModelContext
    ) -> Answer | None:
        """The answer, or None when Strawberry must answer (before anything ran)."""
        coerced = get_variable_values(
            self._graphql, plan.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            return None
        try:
            arguments = get_argument_values(plan.definition, plan.field, coerced)
        except GraphQLError:
            return None
        principal = context.principal
        if principal is None or not principal.allows(RECORD_VIEW_SCOPE):
            return None
        fields: dict[str, Any] = {name: arguments.get(ARGUMENT_NAMES.get(name, name)) for name in VIEW_FIELDS}
        view = ViewInput(**fields)
        try:
            accepted = EventAccepted.from_accepted(await context.commands.record_view(view))
        except Exception as exc:  # every error is answered, as graphql-core does
            return self._error(plan, exc)
        values = {}
        for leaf in plan.leaves:
            value = "EventAccepted" if leaf.attribute == "__typename" else getattr(accepted, leaf.attribute)
            values[leaf.response_key] = leaf.type.serialize(value)
        return Answer({"data": {plan.response_key: values}})

    def _error(self, plan: Plan, exc: Exception) -> Answer:
        error = located_error(exc, [plan.field], [plan.response_key])
        self._schema.process_errors([error])
        if is_unexpected(error):
            # MaskErrors' anonymised error: the location and path stay, the message and extensions go.
            error = GraphQLError(
                MASKED_MESSAGE, error.nodes, error.source, error.positions, error.path, original_error=None
            )
        # recordView is non-null: its error makes `data` null.
        return Answer({"data": None, "errors": [error.formatted]}, (error,))
