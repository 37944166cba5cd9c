package movieviews.stream;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Dead letters from the JVM to the job's dead-letter topic, in the JSON of stream/taskmanager/deadletters.py.
 * A later stage's refusal names the stage as source_topic, with partition and offset -1: after the views are
 * summed no single record's position is known, and the payload is the refused row (a JSON array of its
 * columns), not an event to replay.
 *
 * <p>Sent through the Kafka client of the shaded flink-sql-connector-kafka jar, which is on the cluster's
 * classpath (and on a local run's), looked up by reflection: the stream jar is compiled against the pyflink
 * wheel's jars alone (deploy/jars.py), so building it, and the unit tests that run its classes, need no
 * connector. Idempotent with acks=all, as the job's other dead letters (stream/sinks.py); flush() returns
 * once every letter sent so far is in Kafka, or throws.
 */
final class DeadLetterProducer implements AutoCloseable {
    private static final String KAFKA = "org.apache.flink.kafka.shaded.org.apache.kafka.";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String topic;
    private final String source;
    private final Object producer;
    private final Constructor<?> record;
    private final Method send;
    private final Method flush;
    private final Method close;
    private final List<Future<?>> sent = new ArrayList<>();

    /**
     * `kafka`: the client properties that reach the brokers (bootstrap.servers, and the security keys of
     * ground/kafka.py's java_properties); `source`: the stage that refused the rows, written as each letter's
     * source_topic.
     */
    DeadLetterProducer(Map<String, String> kafka, String topic, String source) throws IOException {
        this.topic = topic;
        this.source = source;
        try {
            Class<?> producerClass = Class.forName(KAFKA + "clients.producer.KafkaProducer");
            Class<?> recordClass = Class.forName(KAFKA + "clients.producer.ProducerRecord");
            // Classes, not names: the client would resolve a name through the context class loader.
            Class<?> bytes = Class.forName(KAFKA + "common.serialization.ByteArraySerializer");
            Properties config = new Properties();
            config.putAll(kafka);
            config.put("acks", "all");
            config.put("enable.idempotence", "true");
            config.put("key.serializer", bytes);
            config.put("value.serializer", bytes);
            producer = producerClass.getConstructor(Properties.class).newInstance(config);
            record = recordClass.getConstructor(String.class, Object.class);
            send = producerClass.getMethod("send", recordClass);
            flush = producerClass.getMethod("flush");
            close = producerClass.getMethod("close", Duration.class);
        } catch (ReflectiveOperationException e) {
            throw new IOException("no Kafka producer for the dead letters to " + topic + " at " + kafka.get("bootstrap.servers"), unwrap(e));
        }
    }

    /** Sends one letter; flush() waits for it. */
    void send(String reason, String detail, Object[] row) throws IOException {
        Map<String, Object> letter = new LinkedHashMap<>();
        letter.put("reason", reason);
        letter.put("detail", detail);
        letter.put("source_topic", source);
        letter.put("partition", -1);
        letter.put("offset", -1);
        letter.put("payload_b64", Base64.getEncoder().encodeToString(JSON.writeValueAsBytes(row)));
        try {
            sent.add((Future<?>) send.invoke(producer, record.newInstance(topic, JSON.writeValueAsBytes(letter))));
        } catch (ReflectiveOperationException e) {
            throw new IOException("dead letter to " + topic + " not sent", unwrap(e));
        }
    }

    /** Every letter sent so far is in Kafka; an IOException otherwise (the job restarts and sends it again). */
    void flush() throws IOException, InterruptedException {
        if (sent.isEmpty()) {
            return;
        }
        try {
            flush.invoke(producer);
            for (Future<?> future : sent) {
                future.get();
            }
        } catch (ReflectiveOperationException | ExecutionException e) {
            throw new IOException("dead letter to " + topic + " not written", unwrap(e));
        }
        sent.clear();
    }

    @Override
    public void close() throws IOException {
        try {
            close.invoke(producer, Duration.ofSeconds(5));
        } catch (ReflectiveOperationException e) {
            throw new IOException("closing the dead-letter producer", unwrap(e));
        }
    }

    static String quoted(Object value) throws IOException {
        return JSON.writeValueAsString(value);
    }

    private static Throwable unwrap(Exception e) {
        return e instanceof InvocationTargetException || e instanceof ExecutionException ? e.getCause() : e;
    }
}
