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
 * the job's hot path (stream/viewreader.py). It passes on only views that are certainly valid (schemas.fields):
 * every string printable ASCII (U+0020-U+007E, not only spaces) within its length bound, every number within
 * its bounds. Anything else (another writer, malformed bytes, trailing bytes, any other character, a value
 * out of bounds) gives null, and the record goes on to the Python decoder (stream.taskmanager.decoding), the
 * one judge of what is counted and what is dead-lettered, and why. Keyed by the header (marker and
 * fingerprint), so a schema that merely looks the same never takes this path.
 */
public final class ViewReader {
    /** One view: the fields the per-movie state needs, and the event-time minute trending counts it in. */
    public record View(String movieId, long occurredMs, long watchSeconds, long minute) {}

    private static final int HEADER_SIZE = 10;
    private static final long MINUTE_MS = 60_000L;
    private static final byte SPACE = 0x20;
    private static final byte TILDE = 0x7E;

    // The bounds of schemas.fields, from the job parameter (stream.viewreader.view_bounds): an id's and a
    // text's maximum length (ASCII: characters are bytes), occurred_at's range, watch_seconds' maximum.
    private final int idMax;
    private final int textMax;
    private final long occurredMin;
    private final long occurredMax;
    private final long watchMax;

    // The known headers' fingerprints (bytes 2-9, little-endian) and whether that writer has the v2 tail
    // (device, country, watch_seconds): at most a handful, so a scan beats a hash.
    private final long[] fingerprints;
    private final boolean[] tails;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);

    /**
     * `layouts`: "<header hex>=<0|1>" items joined by ';' (stream.viewreader.view_layouts writes it);
     * `bounds`: "idMax;textMax;occurredMin;occurredMax;watchMax" (stream.viewreader.view_bounds).
     */
    public ViewReader(String layouts, String bounds) {
        String[] limits = bounds.split(";");
        if (limits.length != 5) {
            throw new IllegalArgumentException("not idMax;textMax;occurredMin;occurredMax;watchMax: " + bounds);
        }
        idMax = Integer.parseInt(limits[0]);
        textMax = Integer.parseInt(limits[1]);
        occurredMin = Long.parseLong(limits[2]);
        occurredMax = Long.parseLong(limits[3]);
        watchMax = Long.parseLong(limits[4]);
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
        String movieId = at.printable(idMax);
        if (movieId == null || !at.optionalPrintable(textMax)) { // user_id
            return null;
        }
        long occurred = at.readLong();
        if (occurred < occurredMin || occurred > occurredMax) {
            return null;
        }
        long watched = 0;
        if (hasTail) {
            if (!at.optionalPrintable(textMax) || !at.optionalPrintable(textMax)) { // device, country
                return null;
            }
            long branch = at.readLong();
            if (branch == 1) {
                watched = at.readLong();
                if (watched < 0 || watched > watchMax) {
                    return null;
                }
            } else if (branch != 0) {
                return null;
            }
        }
        if (at.pos != data.length) {
            return null;
        }
        return new View(movieId, occurred, watched, Math.floorDiv(occurred, MINUTE_MS));
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

        /**
         * A string of 1 to `max` printable ASCII bytes, not all spaces: certainly valid for schemas.fields,
         * whether an id or a text (ASCII is NFC). Null for any other string, which the Python decoder judges.
         */
        String printable(int max) throws Malformed {
            long length = readLong();
            if (length < 0 || length > data.length - pos) {
                throw new Malformed();
            }
            if (length == 0 || length > max) {
                return null;
            }
            int end = pos + (int) length;
            boolean visible = false;
            for (int i = pos; i < end; i++) {
                byte b = data[i];
                if (b < SPACE || b > TILDE) {
                    return null;
                }
                visible |= b != SPACE;
            }
            if (!visible) {
                return null;
            }
            String s = new String(data, pos, (int) length, StandardCharsets.US_ASCII);
            pos = end;
            return s;
        }

        /** A ["null", string] union: true for null or a `printable(max)` string, false for any other. */
        boolean optionalPrintable(int max) throws Malformed {
            long branch = readLong();
            if (branch == 0) {
                return true;
            }
            if (branch != 1) {
                throw new Malformed();
            }
            return printable(max) != null;
        }
    }

    /**
     * The agreement test's entry (tests/unit/test_stream_view_reader.py): arguments the layouts and the
     * bounds, then one payload in hex per line on stdin; prints "movie id in hex,occurred,watched,minute" or
     * "-" per line.
     */
    public static void main(String[] args) throws Exception {
        ViewReader reader = new ViewReader(args[0], args[1]);
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
