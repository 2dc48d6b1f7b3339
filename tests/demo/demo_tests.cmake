# The bundled demo model's pointing game, included from tests/CMakeLists.txt:
#   demo_pointing  fresh scenes from tools/scenes.py (seed 777, never seen in training), then
#                  test_pointing checks that the CPU backend's Grad-CAM maximum lies in the
#                  explained object's box (tests/demo/test_pointing.c has the rule and the
#                  thresholds). Skipped (77) without /usr/bin/python3 or NumPy.
set(GC_DEMO_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_executable(test_pointing ${GC_DEMO_TEST_DIR}/test_pointing.c)
target_link_libraries(test_pointing PRIVATE gradcam)
target_compile_options(test_pointing PRIVATE ${GC_WARNINGS})

find_program(GC_DEMO_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
add_test(NAME demo_pointing
  COMMAND sh ${GC_DEMO_TEST_DIR}/run_pointing.sh "${GC_DEMO_PYTHON}"
          $<TARGET_FILE:test_pointing> ${PROJECT_SOURCE_DIR}/models/demo/shapes-vgg.safetensors
          ${CMAKE_CURRENT_BINARY_DIR}/demo)
set_tests_properties(demo_pointing PROPERTIES LABELS cpu SKIP_RETURN_CODE 77 TIMEOUT 300)

# The same game for the other CAM methods (same thresholds; rates in docs/validation.md).
foreach(method gradcam++ xgradcam layercam hirescam guided-backprop guided-gradcam)
  string(REPLACE "+" "p" name ${method})
  string(REPLACE "-" "_" name ${name})
  add_test(NAME demo_pointing_${name}
    COMMAND sh ${GC_DEMO_TEST_DIR}/run_pointing.sh "${GC_DEMO_PYTHON}"
            $<TARGET_FILE:test_pointing> ${PROJECT_SOURCE_DIR}/models/demo/shapes-vgg.safetensors
            ${CMAKE_CURRENT_BINARY_DIR}/demo_${name} ${method})
  set_tests_properties(demo_pointing_${name} PROPERTIES LABELS cpu SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
