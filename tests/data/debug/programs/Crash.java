// Crashes the way regenerate.sh asks: java Crash.java npe|cause|index
import java.util.List;
import java.util.Map;

public class Crash {
    static class Store {
        private final Map<String, String> rows;
        Store(Map<String, String> rows) { this.rows = rows; }
        int length(String key) { return rows.get(key).length(); }
        String load(String path) {
            try {
                return new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of(path)));
            } catch (java.io.IOException e) {
                throw new IllegalStateException("cannot load the store from " + path, e);
            }
        }
    }

    static int first(List<Integer> items) { return items.get(3); }

    public static void main(String[] args) {
        System.out.println("starting " + args[0]);
        Store store = new Store(Map.of("a", "b"));
        switch (args[0]) {
            case "npe" -> store.length("missing");
            case "cause" -> store.load("/nonexistent/store.db");
            default -> first(List.of(1, 2));
        }
    }
}
