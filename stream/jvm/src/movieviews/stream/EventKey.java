package movieviews.stream;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * SQL `event_key(payload, topic, partition, offset)`: what the deduplication keys a record by
 * (stream.topology.EVENT_KEY says what and why). Every event schema starts with `event_id`, a 36-character
 * UUID: in single-object encoding the marker C3 01, eight fingerprint bytes, a length byte 0x48 (36, zigzag)
 * and the id in bytes 11-46. Such a record is keyed by those bytes, read as ISO-8859-1; any other (random
 * bytes, a tombstone, a record cut short inside its id) by its own position, so it is never taken for a
 * duplicate and reaches the dead letters.
 *
 * <p>It works on the bytes and answers Flink's internal string: the same keys as decoding the whole payload
 * to a string and cutting it in SQL, without building that string and encoding it back to UTF-8 on every
 * record to hash and store the key.
 */
public final class EventKey extends ScalarFunction {
    private static final int ID_START = 11;
    private static final int ID_LENGTH = 36;
    private static final byte LENGTH_36 = 0x48;

    public @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData eval(
            byte[] payload,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData topic,
            Integer partition,
            Long offset) {
        if (payload != null
                && payload.length >= ID_START + ID_LENGTH
                && payload[0] == (byte) 0xC3
                && payload[1] == 0x01
                && payload[ID_START - 1] == LENGTH_36) {
            return id(payload);
        }
        return StringData.fromString(topic + "/" + partition + "/" + offset);
    }

    /** Bytes 11-46 as ISO-8859-1 characters, in UTF-8: the bytes themselves when all are ASCII (a UUID). */
    private static StringData id(byte[] payload) {
        for (int i = ID_START; i < ID_START + ID_LENGTH; i++) {
            if (payload[i] < 0) {
                return StringData.fromString(
                        new String(payload, ID_START, ID_LENGTH, StandardCharsets.ISO_8859_1));
            }
        }
        byte[] ascii = new byte[ID_LENGTH];
        System.arraycopy(payload, ID_START, ascii, 0, ID_LENGTH);
        return StringData.fromBytes(ascii);
    }

    /**
     * The key test's entry (tests/unit/test_stream_event_key.py): one record per line on stdin, "payload in
     * hex (empty: a tombstone),topic,partition,offset"; prints the key's UTF-8 bytes in hex per line.
     */
    public static void main(String[] args) throws Exception {
        EventKey key = new EventKey();
        HexFormat hex = HexFormat.of();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        StringBuilder out = new StringBuilder();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String[] parts = line.strip().split(",", -1);
            byte[] payload = parts[0].isEmpty() ? null : hex.parseHex(parts[0]);
            StringData found = key.eval(
                    payload, StringData.fromString(parts[1]), Integer.valueOf(parts[2]), Long.valueOf(parts[3]));
            out.append(hex.formatHex(found.toBytes())).append('\n');
        }
        System.out.print(out);
    }
}
