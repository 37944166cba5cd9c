package movieviews.stream;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * MovieViewed from the writer versions the job knows, read straight from the single-object bytes in the JVM:
 * the job's hot path (stream/viewreader.py). Anything it does not expect (another writer, malformed bytes, a
 * movie id without a visible ASCII character, trailing bytes) gives null, and the record goes on to the
 * Python decoder (stream.taskmanager.decoding), which stays the only judge of what is rejected and why.
 * Keyed by the header (marker and fingerprint), so a schema that merely looks the same never takes this path.
 */
public final class ViewReader {
    /** One view: the fields the per-movie state needs, and the event-time minute trending counts it in. */
    public record View(String movieId, long occurredMs, long watchSeconds, long minute) {}

    private static final int HEADER_SIZE = 10;
    private static final long MINUTE_MS = 60_000L;

    // The known headers' fingerprints (bytes 2-9, little-endian) and whether that writer has the v2 tail
    // (device, country, watch_seconds): at most a handful, so a scan beats a hash.
    private final long[] fingerprints;
    private final boolean[] tails;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);

    /** `layouts`: "<header hex>=<0|1>" items joined by ';' (stream.viewreader.view_layouts writes it). */
    public ViewReader(String layouts) {
        String[] items = layouts.isEmpty() ? new String[0] : layouts.split(";");
        fingerprints = new long[items.length];
        tails = new boolean[items.length];
        for (int i = 0; i < items.length; i++) {
            String[] parts = items[i].split("=");
            byte[] header = HexFormat.of().parseHex(parts[0]);
            if (header.length != HEADER_SIZE || !singleObject(header)) {
                throw new IllegalArgumentException("not a single-object header: " + parts[0]);
            }
            fingerprints[i] = fingerprint(header);
            tails[i] = parts[1].equals("1");
        }
    }

    public View read(byte[] data) {
        if (data == null || data.length < HEADER_SIZE || !singleObject(data)) {
            return null;
        }
        long fp = fingerprint(data);
        for (int i = 0; i < fingerprints.length; i++) {
            if (fingerprints[i] == fp) {
                try {
                    return read(data, tails[i]);
                } catch (IndexOutOfBoundsException | CharacterCodingException | Malformed e) {
                    return null;
                }
            }
        }
        return null;
    }

    private View read(byte[] data, boolean hasTail) throws CharacterCodingException, Malformed {
        Cursor at = new Cursor(data, HEADER_SIZE);
        at.skipString(); // event_id
        long length = at.readLong();
        if (length <= 0 || length > data.length - at.pos) {
            return null;
        }
        String movieId = at.string((int) length);
        if (!hasVisibleAscii(movieId)) {
            return null; // perhaps only whitespace: the Python decoder judges it
        }
        at.skipOptionalString(); // user_id
        long occurred = at.readLong();
        long watched = 0;
        if (hasTail) {
            at.skipOptionalString(); // device
            at.skipOptionalString(); // country
            long branch = at.readLong();
            if (branch == 1) {
                watched = at.readLong();
            } else if (branch != 0) {
                return null;
            }
        }
        if (at.pos != data.length) {
            return null;
        }
        return new View(movieId, occurred, watched, Math.floorDiv(occurred, MINUTE_MS));
    }

    private static boolean hasVisibleAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c > ' ' && c < 0x7F) {
                return true;
            }
        }
        return false;
    }

    /** Starts with the single-object marker C3 01. */
    private static boolean singleObject(byte[] data) {
        return data[0] == (byte) 0xC3 && data[1] == 0x01;
    }

    private static long fingerprint(byte[] header) {
        long fp = 0;
        for (int i = HEADER_SIZE - 1; i >= 2; i--) {
            fp = (fp << 8) | (header[i] & 0xFF);
        }
        return fp;
    }

    private static final class Malformed extends Exception {
        Malformed() {
            super(null, null, false, false);
        }
    }

    private final class Cursor {
        private final byte[] data;
        private int pos;

        Cursor(byte[] data, int pos) {
            this.data = data;
            this.pos = pos;
        }

        /** An Avro zigzag varint of at most 10 bytes that fits 64 bits; IndexOutOfBounds when the bytes end. */
        long readLong() throws Malformed {
            long n = 0;
            for (int shift = 0; ; shift += 7) {
                int b = data[pos++] & 0xFF;
                if (shift == 63 && b > 1) {
                    throw new Malformed(); // past 64 bits: the Python decoder judges it
                }
                n |= (long) (b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    return (n >>> 1) ^ -(n & 1);
                }
            }
        }

        String string(int length) throws CharacterCodingException {
            String s = utf8.decode(ByteBuffer.wrap(data, pos, length)).toString();
            pos += length;
            return s;
        }

        void skipString() throws CharacterCodingException, Malformed {
            long length = readLong();
            if (length < 0 || length > data.length - pos) {
                throw new Malformed();
            }
            string((int) length); // validated as UTF-8, as the codec would
        }

        void skipOptionalString() throws CharacterCodingException, Malformed {
            long branch = readLong();
            if (branch == 1) {
                skipString();
            } else if (branch != 0) {
                throw new Malformed();
            }
        }
    }

    /**
     * The agreement test's entry (tests/unit/test_stream_view_reader.py): argument 1 the layouts, then one
     * payload in hex per line on stdin; prints "movie id in hex,occurred,watched,minute" or "-" per line.
     */
    public static void main(String[] args) throws Exception {
        ViewReader reader = new ViewReader(args[0]);
        HexFormat hex = HexFormat.of();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        StringBuilder out = new StringBuilder();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            View view = reader.read(hex.parseHex(line.strip()));
            if (view == null) {
                out.append("-\n");
            } else {
                String id = hex.formatHex(view.movieId().getBytes(StandardCharsets.UTF_8));
                out.append(id).append(',').append(view.occurredMs()).append(',').append(view.watchSeconds())
                        .append(',').append(view.minute()).append('\n');
            }
        }
        System.out.print(out);
    }
}
