package movieviews.stream;

import java.util.Collection;
import org.apache.flink.contrib.streaming.state.RocksDBOptionsFactory;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompactionOptionsUniversal;
import org.rocksdb.CompactionStyle;
import org.rocksdb.DBOptions;
import org.rocksdb.Env;
import org.rocksdb.Priority;

/**
 * RocksDB's universal compaction for every state of the job, run at the lowest CPU priority
 * (`state.backend.rocksdb.options-factory`).
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
 *
 * <p>A full compaction rewrites the whole state on one thread: a core for a minute at tens of millions of
 * ids. At normal priority it took that core from the job's own threads on this 2-core machine, and the job fell
 * seconds behind each time. The compaction threads (RocksDB's low-priority pool, shared by every RocksDB of a
 * TaskManager process and sized by `state.backend.rocksdb.thread.num`)
 * therefore run at the lowest CPU priority: they use what the job leaves, and the job never waits for them.
 * Compactions that fall behind leave more files to merge; RocksDB slows writes only at 40 of them (20 by
 * default) and stops them at 60, so a job busy for minutes slows down before its reads check too many files.
 */
public final class UniversalCompaction implements RocksDBOptionsFactory {
    private static final long serialVersionUID = 1L;
    static final int MAX_SIZE_AMPLIFICATION_PERCENT = 50;
    static final int SLOWDOWN_WRITES_AT_FILES = 40;
    static final int STOP_WRITES_AT_FILES = 60;

    @Override
    public DBOptions createDBOptions(DBOptions current, Collection<AutoCloseable> handlesToClose) {
        // The default Env's pool is shared by every RocksDB instance of the process; lowering it is idempotent.
        Env.getDefault().lowerThreadPoolCPUPriority(Priority.LOW);
        return current;
    }

    @Override
    public ColumnFamilyOptions createColumnOptions(
            ColumnFamilyOptions current, Collection<AutoCloseable> handlesToClose) {
        CompactionOptionsUniversal universal = new CompactionOptionsUniversal();
        handlesToClose.add(universal);
        universal.setMaxSizeAmplificationPercent(MAX_SIZE_AMPLIFICATION_PERCENT);
        return current.setCompactionStyle(CompactionStyle.UNIVERSAL)
                .setCompactionOptionsUniversal(universal)
                .setLevel0SlowdownWritesTrigger(SLOWDOWN_WRITES_AT_FILES)
                .setLevel0StopWritesTrigger(STOP_WRITES_AT_FILES);
    }
}
