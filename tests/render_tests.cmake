# Rendering and preprocessing resizes against OpenCV goldens.
add_executable(test_render ${CMAKE_CURRENT_LIST_DIR}/test_render.c)
target_link_libraries(test_render PRIVATE gradcam_internal)
add_test(NAME render_vs_opencv
  COMMAND test_render ${CMAKE_CURRENT_LIST_DIR}/golden/render_opencv.safetensors)
set_tests_properties(render_vs_opencv PROPERTIES LABELS cpu)
# the same with the x86-64 baseline variant of the hot loops (GC_VARIANTS, gc_internal.h)
add_test(NAME render_vs_opencv_baseline
  COMMAND test_render ${CMAKE_CURRENT_LIST_DIR}/golden/render_opencv.safetensors)
set_tests_properties(render_vs_opencv_baseline PROPERTIES LABELS cpu ENVIRONMENT GC_CPU_BASELINE=1)
