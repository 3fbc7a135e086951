# The loop layer's examples (cl-async's seeds in C), built by default and
# smoke-run by CTest. Included from examples/CMakeLists.txt; like the other
# examples they use only <weft/weft.h> and link the shared library.
foreach(example loop-notifier loop-promise loop-errors)
  add_executable(${example} ${CMAKE_CURRENT_LIST_DIR}/${example}.c)
  target_link_libraries(${example} PRIVATE weft)
  target_compile_options(${example} PRIVATE ${WEFT_WARNINGS})
endforeach()

if(BUILD_TESTING)
  add_test(NAME example-loop-notifier COMMAND loop-notifier)
  # The job sleeps 600 ms and the delay fires at 200 ms: its line comes first.
  add_test(NAME example-loop-promise COMMAND loop-promise 600)
  add_test(NAME example-loop-errors COMMAND loop-errors)
  set_tests_properties(example-loop-notifier example-loop-promise example-loop-errors
    PROPERTIES LABELS example TIMEOUT 60)
  set_tests_properties(example-loop-notifier PROPERTIES
    PASS_REGULAR_EXPRESSION "Job finished! 42")
  set_tests_properties(example-loop-promise PROPERTIES
    PASS_REGULAR_EXPRESSION "event loop still running[.][.][.]\ngot val: 9\n")
  set_tests_properties(example-loop-errors PROPERTIES
    PASS_REGULAR_EXPRESSION "err: could not reach the database [(]Connection refused[)]")
endif()
