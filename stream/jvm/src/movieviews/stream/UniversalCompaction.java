package movieviews.stream;

import java.util.Collection;
import org.apache.flink.contrib.streaming.state.RocksDBOptionsFactory;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompactionOptionsUniversal;
import org.rocksdb.CompactionStyle;
import org.rocksdb.DBOptions;

/**
 * RocksDB's universal compaction for every state of the job (`state.backend.rocksdb.options-factory`).
 *
 * <p>The deduplication writes one entry per event under a random key (a UUID) and drops it a window later.
 * Each checkpoint flushes the memtables into a small level-0 file (one every 2 s), and under leveled
 * compaction every few of them were merged into the whole of level 1 (256 MB), whose files all overlap random
 * keys: each id was rewritten tens of times, and at 20k events/s the compaction thread took half a core and
 * more as the state grew, until the job fell behind. Universal compaction merges sorted runs of similar size
 * instead, so an entry is rewritten a few times, and expired ids leave in the compactions that rewrite their
 * run (the TTL compaction filter works the same under either style).
 *
 * <p>Universal compaction lets the files grow to the live data times (1 + the size amplification) before it
 * compacts everything into one run; RocksDB's default of 200% would hold three windows of ids on disk between
 * full compactions. At 50%, a full compaction comes after half a window of new ids and rewrites one and a half
 * windows: the disk holds at most 1.5 windows, and each id is rewritten about three times more by it.
 */
public final class UniversalCompaction implements RocksDBOptionsFactory {
    private static final long serialVersionUID = 1L;
    static final int MAX_SIZE_AMPLIFICATION_PERCENT = 50;

    @Override
    public DBOptions createDBOptions(DBOptions current, Collection<AutoCloseable> handlesToClose) {
        return current;
    }

    @Override
    public ColumnFamilyOptions createColumnOptions(
            ColumnFamilyOptions current, Collection<AutoCloseable> handlesToClose) {
        CompactionOptionsUniversal universal = new CompactionOptionsUniversal();
        handlesToClose.add(universal);
        universal.setMaxSizeAmplificationPercent(MAX_SIZE_AMPLIFICATION_PERCENT);
        return current.setCompactionStyle(CompactionStyle.UNIVERSAL).setCompactionOptionsUniversal(universal);
    }
}
