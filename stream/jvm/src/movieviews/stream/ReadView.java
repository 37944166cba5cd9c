package movieviews.stream;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * SQL `read_view(payload)`: one row for a MovieViewed the JVM reads (ViewReader), none otherwise. The known
 * headers come from the job parameter `movieviews.view-layouts`, the bounds of a valid field from
 * `movieviews.view-bounds` (stream.viewreader): without either the function fails at open, so a job never
 * silently sends every view through Python, nor passes on a value the Python definition refuses.
 */
@FunctionHint(output = @DataTypeHint("ROW<movie_id STRING, occurred_ms BIGINT, watch_seconds BIGINT, event_minute BIGINT>"))
public final class ReadView extends TableFunction<Row> {
    public static final String LAYOUTS = "movieviews.view-layouts";
    public static final String BOUNDS = "movieviews.view-bounds";

    private transient ViewReader reader;

    @Override
    public void open(FunctionContext context) {
        reader = new ViewReader(parameter(context, LAYOUTS), parameter(context, BOUNDS));
    }

    private static String parameter(FunctionContext context, String name) {
        String value = context.getJobParameter(name, "");
        if (value.isEmpty()) {
            throw new IllegalStateException("job parameter " + name + " is not set");
        }
        return value;
    }

    public void eval(byte[] payload) {
        ViewReader.View view = reader.read(payload);
        if (view != null) {
            collect(Row.of(view.movieId(), view.occurredMs(), view.watchSeconds(), view.minute()));
        }
    }
}
