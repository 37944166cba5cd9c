package movieviews.stream;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * SQL `read_view(payload)`: one row for a MovieViewed the JVM reads (ViewReader), none otherwise. The known
 * headers come from the job parameter `movieviews.view-layouts` (stream.viewreader): without it the function fails
 * at open, so a job never silently sends every view through Python.
 */
@FunctionHint(output = @DataTypeHint("ROW<movie_id STRING, occurred_ms BIGINT, watch_seconds BIGINT, event_minute BIGINT>"))
public final class ReadView extends TableFunction<Row> {
    public static final String LAYOUTS = "movieviews.view-layouts";

    private transient ViewReader reader;

    @Override
    public void open(FunctionContext context) {
        String layouts = context.getJobParameter(LAYOUTS, "");
        if (layouts.isEmpty()) {
            throw new IllegalStateException("job parameter " + LAYOUTS + " is not set");
        }
        reader = new ViewReader(layouts);
    }

    public void eval(byte[] payload) {
        ViewReader.View view = reader.read(payload);
        if (view != null) {
            collect(Row.of(view.movieId(), view.occurredMs(), view.watchSeconds(), view.minute()));
        }
    }
}
