package movieviews.stream;

import java.io.IOException;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.metrics.Counter;
import org.apache.flink.types.Row;

/**
 * The guarded upserts of stream/upsert.py, a batch of rows in one statement: each column travels as one array
 * parameter, which the statement reads back with unnest. Flink's JDBC sink ran one statement, and fired the
 * tables' statement triggers, per snapshot. Measured against it at 100,000 movies, with both on their own
 * thread: no throughput difference to see (docs/PERFORMANCE.md, "The sink on its own thread, a batch per
 * statement").
 *
 * <p>A batch leaves when it holds batchSize rows, intervalMs after its first row, or before a checkpoint
 * barrier (flush): at least once, which the version guards make exactly-once in effect. A row whose key (its
 * first column, the movie) is already in the batch first sends the batch: one statement may not update a row
 * twice, and rows apply in their order.
 *
 * <p>A failed statement is one of two kinds (SqlStates.refusesTheData). Refused for its rows' own data (a NUL
 * in a movie id): the batch is sent again in halves, down to single rows, so every other row is written, and
 * a single row so refused becomes a dead letter (DeadLetterProducer, reason refused-by-postgres, counted in
 * movieviews.dead_letters_total) and is skipped: it would be refused on every retry and restart, and stop
 * every movie's count. Any other failure is the infrastructure's: retried on a new connection (1, 2, 3 s
 * apart), then the job fails and restarts from its checkpoint, sending the rows again. A checkpoint completes
 * only after flush has written the batch and its dead letters are in Kafka.
 */
public final class UpsertSink implements Sink<Row> {
    private static final long serialVersionUID = 1L;
    static final String REFUSED = "refused-by-postgres";

    private final String url;
    private final String user;
    private final String password;
    private final String sql;
    private final String[] elementTypes;
    private final int batchSize;
    private final long intervalMs;
    private final int maxRetries;
    private final HashMap<String, String> deadLetterKafka;
    private final String deadLetterTopic;
    private final String stage;

    /**
     * elementTypes: each column's Postgres type as createArrayOf takes it (text, int4, int8), in order. Dead
     * letters go to deadLetterTopic, reached with the Kafka client properties deadLetterKafka (bootstrap.servers
     * and, on a secured cluster, the job's SASL/TLS keys), named by stage (the sink's name in the job).
     */
    public UpsertSink(
            String url,
            String user,
            String password,
            String sql,
            String[] elementTypes,
            int batchSize,
            long intervalMs,
            int maxRetries,
            Map<String, String> deadLetterKafka,
            String deadLetterTopic,
            String stage) {
        this.url = url;
        this.user = user;
        this.password = password;
        this.sql = sql;
        this.elementTypes = elementTypes.clone();
        this.batchSize = batchSize;
        this.intervalMs = intervalMs;
        this.maxRetries = maxRetries;
        this.deadLetterKafka = new HashMap<>(deadLetterKafka);
        this.deadLetterTopic = deadLetterTopic;
        this.stage = stage;
    }

    @Override
    @SuppressWarnings("deprecation") // the one abstract createWriter of Flink 1.20's Sink
    public SinkWriter<Row> createWriter(InitContext context) {
        Counter refused = context.metricGroup()
                .addGroup("movieviews")
                .addGroup("reason", REFUSED)
                .counter("dead_letters_total");
        return new Writer(context.getProcessingTimeService(), refused);
    }

    private final class Writer implements SinkWriter<Row> {
        private final ProcessingTimeService time;
        private final Counter refused;
        // Each row's columns, copied out of the row: with object reuse the caller may reuse it.
        private final List<Object[]> rows = new ArrayList<>();
        private final Set<Object> keys = new HashSet<>();
        private Connection connection;
        private PreparedStatement statement;
        // Made at the first refused row: a writer that never refuses one holds no Kafka connection.
        private DeadLetterProducer deadLetters;
        // The batch the pending timer was set for: a batch sent by size or barrier leaves its timer behind.
        private long batch;

        Writer(ProcessingTimeService time, Counter refused) {
            this.time = time;
            this.refused = refused;
        }

        @Override
        public void write(Row row, Context context) throws IOException, InterruptedException {
            if (!keys.add(row.getField(0))) {
                send();
                keys.add(row.getField(0));
            }
            Object[] columns = new Object[elementTypes.length];
            for (int i = 0; i < columns.length; i++) {
                columns[i] = row.getField(i);
            }
            rows.add(columns);
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
            if (deadLetters != null) {
                deadLetters.flush();
            }
        }

        private void send() throws IOException, InterruptedException {
            if (rows.isEmpty()) {
                return;
            }
            upsert(rows);
            keys.clear();
            rows.clear();
            batch++;
        }

        /** Writes the rows but those Postgres refuses for their own data, which become dead letters. */
        private void upsert(List<Object[]> part) throws IOException, InterruptedException {
            SQLException refusal = execute(part);
            if (refusal == null) {
                return;
            }
            if (part.size() == 1) {
                deadLetter(part.get(0), refusal);
                return;
            }
            // Halves, not each row alone: a batch of 1,000 with one bad row costs about 20 statements.
            int half = part.size() / 2;
            upsert(part.subList(0, half));
            upsert(part.subList(half, part.size()));
        }

        /**
         * Null once written; the exception when Postgres refused the rows' data. An infrastructure failure is
         * retried on a new connection, and after maxRetries thrown: the job restarts from its checkpoint.
         */
        private SQLException execute(List<Object[]> part) throws IOException, InterruptedException {
            for (int attempt = 0; ; attempt++) {
                try {
                    executeOnce(part);
                    return null;
                } catch (SQLException e) {
                    if (SqlStates.refusesTheData(e.getSQLState())) {
                        // In autocommit the failed statement left nothing behind, and the connection is fine.
                        return e;
                    }
                    disconnect();
                    if (attempt >= maxRetries) {
                        throw new IOException(
                                "upsert of " + part.size() + " rows failed " + (attempt + 1) + " times (SQLSTATE "
                                        + e.getSQLState() + "): " + sql,
                                e);
                    }
                    Thread.sleep(1000L * (attempt + 1));
                }
            }
        }

        private void executeOnce(List<Object[]> part) throws SQLException {
            if (connection == null) {
                connection = DriverManager.getConnection(url, user, password);
                statement = connection.prepareStatement(sql);
            }
            for (int i = 0; i < elementTypes.length; i++) {
                Object[] column = new Object[part.size()];
                for (int j = 0; j < column.length; j++) {
                    column[j] = part.get(j)[i];
                }
                Array array = connection.createArrayOf(elementTypes[i], column);
                statement.setArray(i + 1, array);
            }
            statement.executeUpdate();
        }

        private void deadLetter(Object[] row, SQLException refusal) throws IOException {
            if (deadLetters == null) {
                deadLetters = new DeadLetterProducer(deadLetterKafka, deadLetterTopic, stage);
            }
            String detail = "movie_id " + DeadLetterProducer.quoted(row[0]) + ": SQLSTATE " + refusal.getSQLState()
                    + ": " + refusal.getMessage();
            deadLetters.send(REFUSED, detail, row);
            refused.inc();
        }

        private void disconnect() {
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

        @Override
        public void close() throws IOException {
            disconnect();
            if (deadLetters != null) {
                deadLetters.close();
            }
        }
    }
}
