"""Query expressions the ORM does not have."""

from django.db.models import BooleanField, Expression, QuerySet, Subquery


class InSubquery(Expression):
    """`column IN (subquery)`, written `column = ANY(ARRAY(subquery))` on PostgreSQL.

    The two mean the same, but PostgreSQL plans them differently: `IN (subquery)` inside an OR becomes
    a filter checked row by row, while `= ANY(ARRAY(…))` runs the subquery once (an InitPlan) and is an
    index condition, so `name LIKE … OR account_id = ANY(…)` can combine a trigram index and the
    foreign-key index (a BitmapOr) instead of reading every row. Use it as a filter: `Q(InSubquery(…))`.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, column: Expression, queryset: QuerySet):
        super().__init__()
        self.column = column
        # An order means nothing to IN or ANY (and would cost a sort), unless it picks a slice.
        self.subquery = Subquery(queryset if queryset.query.is_sliced else queryset.order_by())

    def get_source_expressions(self):
        return [self.column, self.subquery]

    def set_source_expressions(self, exprs):
        self.column, self.subquery = exprs

    def as_sql(self, compiler, connection):
        column_sql, column_params = compiler.compile(self.column)
        subquery_sql, subquery_params = compiler.compile(self.subquery)
        return f"{column_sql} IN {subquery_sql}", (*column_params, *subquery_params)

    def as_postgresql(self, compiler, connection):
        column_sql, column_params = compiler.compile(self.column)
        subquery_sql, subquery_params = compiler.compile(self.subquery)
        return f"{column_sql} = ANY(ARRAY{subquery_sql})", (*column_params, *subquery_params)
