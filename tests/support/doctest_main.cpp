// The main of every test executable: doctest's, plus one guard. CTest runs each test case as
// `exe --test-case=NAME` (doctest_discover_tests), and a name that does not survive that trip
// (a ';' splits it into two CMake list items) selects nothing: doctest then passes with zero
// test cases, and the case silently never runs. So a run that was given a test-case filter
// and found no test case fails, saying which filter matched nothing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string_view>

namespace {

// The number of test cases the run selected, read from doctest's own statistics.
unsigned g_selected = 0;
bool g_ran = false;

struct SelectionCounter : doctest::IReporter {
  explicit SelectionCounter(const doctest::ContextOptions& /*options*/) {}
  void report_query(const doctest::QueryData& /*data*/) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    g_selected = stats.numTestCasesPassingFilters;
    g_ran = true;
  }
  void test_case_start(const doctest::TestCaseData& /*data*/) override {}
  void test_case_reenter(const doctest::TestCaseData& /*data*/) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& /*stats*/) override {}
  void test_case_exception(const doctest::TestCaseException& /*e*/) override {}
  void subcase_start(const doctest::SubcaseSignature& /*signature*/) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData& /*data*/) override {}
  void log_message(const doctest::MessageData& /*data*/) override {}
  void test_case_skipped(const doctest::TestCaseData& /*data*/) override {}
};

REGISTER_LISTENER("selection-counter", 1, SelectionCounter);

// The value of a --test-case / -tc filter among the arguments, or empty.
std::string_view test_case_filter(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    for (const std::string_view flag : {"--test-case=", "-tc=", "--dt-test-case=", "--dt-tc="}) {
      if (arg.starts_with(flag)) {
        return arg.substr(flag.size());
      }
    }
  }
  return {};
}

} // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit() || result != 0) {
    return result;
  }
  const std::string_view filter = test_case_filter(argc, argv);
  if (g_ran && g_selected == 0 && !filter.empty()) {
    std::fprintf(stderr,
                 "doctest_main: no test case matches --test-case=%.*s: a name CTest cannot "
                 "pass whole (it holds a ';')? Rename the test case.\n",
                 static_cast<int>(filter.size()), filter.data());
    return 1;
  }
  return result;
}
