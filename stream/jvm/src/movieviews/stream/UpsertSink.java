package movieviews.stream;

import java.io.IOException;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.types.Row;

/**
 * The guarded upserts of stream/upsert.py, a batch of rows in one statement: each column travels as one array
 * parameter, which the statement reads back with unnest. Flink's JDBC sink ran one statement, and fired the
 * tables' statement triggers, per snapshot. Measured against it at 100,000 movies, with both on their own
 * thread: no throughput difference to see (docs/PERFORMANCE.md, 1 Dec).
 *
 * <p>A batch leaves when it holds batchSize rows, intervalMs after its first row, or before a checkpoint
 * barrier (flush): at least once, which the version guards make exactly-once in effect. A row whose key (its
 * first column, the movie) is already in the batch first sends the batch: one statement may not update a row
 * twice, and rows apply in their order. A failed statement is retried on a new connection (1, 2, 3 s apart),
 * then fails the job, which restarts from its checkpoint.
 */
public final class UpsertSink implements Sink<Row> {
    private static final long serialVersionUID = 1L;

    private final String url;
    private final String user;
    private final String password;
    private final String sql;
    private final String[] elementTypes;
    private final int batchSize;
    private final long intervalMs;
    private final int maxRetries;

    /** elementTypes: each column's Postgres type as createArrayOf takes it (text, int4, int8), in order. */
    public UpsertSink(
            String url,
            String user,
            String password,
            String sql,
            String[] elementTypes,
            int batchSize,
            long intervalMs,
            int maxRetries) {
        this.url = url;
        this.user = user;
        this.password = password;
        this.sql = sql;
        this.elementTypes = elementTypes.clone();
        this.batchSize = batchSize;
        this.intervalMs = intervalMs;
        this.maxRetries = maxRetries;
    }

    @Override
    @SuppressWarnings("deprecation") // the one abstract createWriter of Flink 1.20's Sink
    public SinkWriter<Row> createWriter(InitContext context) {
        return new Writer(context.getProcessingTimeService());
    }

    private final class Writer implements SinkWriter<Row> {
        private final ProcessingTimeService time;
        private final List<List<Object>> columns = new ArrayList<>();
        private final Set<Object> keys = new HashSet<>();
        private Connection connection;
        private PreparedStatement statement;
        // The batch the pending timer was set for: a batch sent by size or barrier leaves its timer behind.
        private long batch;

        Writer(ProcessingTimeService time) {
            this.time = time;
            for (int i = 0; i < elementTypes.length; i++) {
                columns.add(new ArrayList<>(batchSize));
            }
        }

        @Override
        public void write(Row row, Context context) throws IOException, InterruptedException {
            if (!keys.add(row.getField(0))) {
                send();
                keys.add(row.getField(0));
            }
            // Copied out of the row: with object reuse the caller may reuse it.
            for (int i = 0; i < elementTypes.length; i++) {
                columns.get(i).add(row.getField(i));
            }
            if (keys.size() == 1) {
                long due = batch;
                time.registerTimer(time.getCurrentProcessingTime() + intervalMs, now -> {
                    if (batch == due) {
                        send();
                    }
                });
            }
            if (keys.size() >= batchSize) {
                send();
            }
        }

        @Override
        public void flush(boolean endOfInput) throws IOException, InterruptedException {
            send();
        }

        private void send() throws IOException, InterruptedException {
            if (keys.isEmpty()) {
                return;
            }
            for (int attempt = 0; ; attempt++) {
                try {
                    execute();
                    break;
                } catch (SQLException e) {
                    close();
                    if (attempt >= maxRetries) {
                        throw new IOException(
                                "upsert of " + keys.size() + " rows failed " + (attempt + 1) + " times: " + sql, e);
                    }
                    Thread.sleep(1000L * (attempt + 1));
                }
            }
            keys.clear();
            for (List<Object> column : columns) {
                column.clear();
            }
            batch++;
        }

        private void execute() throws SQLException {
            if (connection == null) {
                connection = DriverManager.getConnection(url, user, password);
                statement = connection.prepareStatement(sql);
            }
            for (int i = 0; i < elementTypes.length; i++) {
                Array array = connection.createArrayOf(elementTypes[i], columns.get(i).toArray());
                statement.setArray(i + 1, array);
            }
            statement.executeUpdate();
        }

        @Override
        public void close() {
            try {
                if (connection != null) {
                    connection.close();
                }
            } catch (SQLException e) {
                // Closing a broken connection: nothing left to lose, the next batch opens a new one.
            } finally {
                connection = null;
                statement = null;
            }
        }
    }
}
