package movieviews.stream;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * The rule that tells a row Postgres refuses for its own data from a failure of the database or the way to
 * it, by the SQLSTATE class (the first two characters): 22 (data exception: a NUL in text, a number or a
 * timestamp out of range) and 23 (integrity constraint violation: a null where none is allowed) are the
 * rows' data, and the same rows would be refused again on any retry. Everything else, and a failure with
 * no SQLSTATE, is infrastructure: 08 (connection), 53 (resources: disk full, too many connections), 57
 * (operator intervention: the server shutting down), 40 (serialization failure, deadlock), 42 (the
 * statement or a privilege), and whatever pgjdbc raises without a state; those are retried and then fail
 * the job, which restarts from its checkpoint.
 */
public final class SqlStates {
    private SqlStates() {}

    /** Whether a statement that failed with this SQLSTATE (null: none) was refused for its rows' data. */
    public static boolean refusesTheData(String sqlState) {
        return sqlState != null && (sqlState.startsWith("22") || sqlState.startsWith("23"));
    }

    /** For the unit tests (tests/unit/test_stream_sink_refusals.py): a SQLSTATE per line of stdin ("-" for
     * none) in, "data" or "infrastructure" per line out. */
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            boolean data = refusesTheData(line.equals("-") ? null : line);
            out.append(data ? "data" : "infrastructure").append('\n');
        }
        System.out.print(out);
    }
}
