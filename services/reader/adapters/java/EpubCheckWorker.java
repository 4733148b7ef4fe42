// One JVM for many books: reads "<epub path>\t<json report path>" lines on stdin, runs EPUBCheck on each,
// answers "done <exit code>" per line. Compiled on first use by reader.adapters.epubcheck.
import com.adobe.epubcheck.tool.EpubChecker;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

public final class EpubCheckWorker {
    public static void main(String[] args) throws Exception {
        PrintStream answers = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        System.setOut(new PrintStream(System.err, true, StandardCharsets.UTF_8)); // EPUBCheck's own chatter
        BufferedReader requests = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = requests.readLine()) != null) {
            String[] parts = line.split("\t", 2);
            int code;
            try {
                code = new EpubChecker().run(new String[] {parts[0], "--json", parts[1], "-q"});
            } catch (RuntimeException error) {
                code = -1;
            }
            answers.println("done " + code);
        }
    }
}
