"""The tests marked `slow` (tests/conftest.py applies the mark): `nox -s tests` leaves them out,
`nox -s tests_all` (CI) runs them.

Measured on a shared 2-core machine (`pytest --durations=0 -n 2 -p no:randomly`, torch and jax
installed, 2026-12-05; seconds of setup + call + teardown in the comments): a test that took 1 s
or more, or a parametrized test whose cases together took 15 s or more (0.3 s or more each on
average) as a whole. That left about 210 of the suite's 1070 CPU-seconds, without torch and jax.
A test that grows past 1 s belongs here; an entry that names no test any more is a warning
when the whole suite is collected (tests/conftest.py).
"""

from __future__ import annotations

from typing import Final

#: Every case of these tests (the node id without its [parameters]).
SLOW_TESTS: Final = frozenset(
    {
        "tests/sources/test_fd_kernel.py::test_both_paths_agree_on_every_activation_and_loss",  # 19 s, 14 cases
        "tests/test_adapters.py::test_autograd_on_saturated_units_is_no_false_alarm",  # 7 s, 6 cases
        "tests/test_adapters.py::test_autograd_passes_an_audit_campaign",  # 23 s, 2 cases
        "tests/test_adapters.py::test_from_flat_passes_a_correct_flat_grad",  # 58 s, 50 cases
        "tests/test_adapters.py::test_jax_grad_passes_the_audit",  # 87 s, 147 cases
        "tests/test_adapters.py::test_jax_loss_fn_is_audited_and_the_half_convention_is_blamed_everywhere",  # 18 s
        "tests/test_bench_smoke.py::test_bench_writes_bench_md_and_bench_json",  # 39 s
        "tests/test_pytest_plugin.py::test_one_tests_tampering_cannot_change_a_later_tests_verdict",  # 36 s
        "tests/test_readme.py::test_readme_examples_run_in_order",  # 18 s
        "tests/test_targets.py::test_the_plugin_takes_a_method_target",  # 19 s
        "tests/test_examples.py::test_example_runs_and_passes",  # 6-18 s each
    }
)

#: These cases only (full node ids).
SLOW_CASES: Final = frozenset(
    {
        "tests/hostile/test_hostile.py::test_hostile_candidate[baseline_wrong]",  # 3.0 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[camp_notimpl_everything]",  # 1.6 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[camp_one_time_raise]",  # 2.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[camp_race_30pct]",  # 3.0 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[camp_slow_first_call]",  # 14.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[camp_slow_then_tamper]",  # 14.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[camp_support_excludes_all]",  # 2.0 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[control_chdir]",  # 2.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[control_global_state]",  # 10.0 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[control_own_math]",  # 4.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[control_prints_a_lot]",  # 4.0 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[control_thread_join]",  # 3.3 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[fast_cancels_seed0]",  # 2.1 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_base_exception]",  # 1.3 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_keyboard_interrupt]",  # 1.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_missing_func]",  # 1.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_not_callable]",  # 1.6 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_os_exit_7]",  # 1.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_raises_at_import]",  # 1.3 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_segfault_at_import]",  # 1.6 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_syntax_error]",  # 1.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[load_sys_exit_0]",  # 1.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[out_lazy_first_read_wrong]",  # 2.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[out_lazy_generator]",  # 2.1 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[out_own_buffers]",  # 2.6 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[out_pair_lies]",  # 2.0 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[out_thread_fixes_later]",  # 2.1 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_address_space_hog]",  # 2.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_bytearray_50gib]",  # 1.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_close_stdout_stderr]",  # 2.6 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_fork_sleeper]",  # 2.7 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_gil_c_sleep]",  # 14.7 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_non_daemon_thread]",  # 2.6 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_numpy_ones_huge]",  # 1.8 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_os_exit_0]",  # 2.6 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_os_exit_3]",  # 1.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_regex_backtrack]",  # 5.0 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_segfault]",  # 3.0 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_sigalrm]",  # 1.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_sigint]",  # 4.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_sigterm]",  # 1.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[proc_stack_overflow]",  # 1.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_atexit_summary]",  # 2.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_campaign_compare]",  # 5.4 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_case_passed]",  # 2.6 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_compare_module]",  # 5.2 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_exit_codes]",  # 2.9 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_frames_rewrite_y]",  # 2.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_json_dumps]",  # 2.3 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_mutates_inputs]",  # 2.2 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_numpy_abs]",  # 2.7 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_sources]",  # 2.5 s
        "tests/hostile/test_hostile.py::test_hostile_candidate[tamper_tolerance]",  # 2.4 s
        "tests/hostile/test_hostile.py::test_python_api[api-control_own_math]",  # 30.9 s
        "tests/hostile/test_hostile.py::test_python_api[api-out_own_buffers]",  # 5.8 s
        "tests/hostile/test_hostile.py::test_python_api[api-proc_os_exit_0]",  # 6.7 s
        "tests/hostile/test_hostile.py::test_python_api[api-tamper_campaign_compare]",  # 7.2 s
        "tests/hostile/test_hostile.py::test_python_api[api-tamper_frames_rewrite_y]",  # 5.2 s
        "tests/hostile/test_hostile.py::test_python_api[api-tamper_mutates_inputs]",  # 5.0 s
        "tests/hostile/test_hostile.py::test_python_api[api-tamper_numpy_abs]",  # 5.8 s
        "tests/hostile/test_hostile.py::test_reproduce_line_runs_nothing_else",  # 4.8 s
        "tests/sources/test_closed_form_conventions.py::test_closed_forms_stay_finite_and_right_at_weight_scale_10[gelu-mse(elementwise_mean)-l2=0.001]",  # 1.4 s
        "tests/sources/test_closed_form_conventions.py::test_closed_forms_stay_finite_and_right_at_weight_scale_10[gelu-mse(half)-l2=0.001]",  # 1.2 s
        "tests/sources/test_closed_form_conventions.py::test_closed_forms_stay_finite_and_right_at_weight_scale_10[gelu-mse(half,sum)-l2=0.001]",  # 1.0 s
        "tests/sources/test_closed_form_conventions.py::test_closed_forms_stay_finite_and_right_at_weight_scale_10[gelu-mse(sum)-l2=0.001]",  # 2.0 s
        "tests/sources/test_closed_form_conventions.py::test_closed_forms_stay_finite_and_right_at_weight_scale_10[gelu-mse-l2=0.001]",  # 2.1 s
        "tests/sources/test_fd_kernel.py::test_both_paths_agree_on_random_networks",  # 9.8 s
        "tests/sources/test_fd_kernel.py::test_the_arch_of_the_speed_goal_agrees",  # 1.6 s
        "tests/sources/test_finite_diff_conventions.py::test_every_entry_is_within_its_bound_of_the_50_digit_truth[relu-relu-sigmoid_bce-scale=10]",  # 1.7 s
        "tests/sources/test_finite_diff_conventions.py::test_every_entry_is_within_its_bound_of_the_50_digit_truth[relu-relu-sigmoid_bce-scale=1]",  # 1.0 s
        "tests/sources/test_finite_diff_conventions.py::test_reductions_half_and_l2_on_the_old_conventions_in_both_kernels[numpy]",  # 1.1 s
        "tests/sources/test_finite_diff_conventions.py::test_saturated_networks_stay_within_their_bounds[gelu-silu-sigmoid]",  # 2.1 s
        "tests/sources/test_finite_diff_conventions.py::test_saturated_networks_stay_within_their_bounds[silu-elu-softmax]",  # 1.4 s
        "tests/test_adapters.py::test_audit_of_from_flat_draws_only_its_declared_architecture",  # 1.1 s
        "tests/test_adapters.py::test_from_flat_keeps_the_dtype_and_refuses_to_reshape",  # 1.9 s
        "tests/test_adapters.py::test_from_flat_with_rows_layout_passes_X_and_Y_transposed",  # 1.1 s
        "tests/test_adapters.py::test_from_jax_sets_float64_and_returns_float64",  # 1.4 s
        "tests/test_adapters.py::test_from_rows_blames_every_dW_computed_with_the_columns_formula",  # 2.0 s
        "tests/test_adapters.py::test_from_rows_declares_its_support_and_keeps_to_it",  # 1.1 s
        "tests/test_adapters.py::test_from_rows_hands_views_so_an_in_place_write_is_a_finding",  # 1.5 s
        "tests/test_adapters.py::test_from_rows_passes_a_correct_rows_backprop[(3, 4, 2)-('sigmoid', 'sigmoid')-mse-m1]",  # 1.2 s
        "tests/test_adapters.py::test_from_rows_passes_a_db_of_shape_1_by_n_through_to_the_harness",  # 1.9 s
        "tests/test_adapters.py::test_torch_default_softplus_threshold_is_a_warning_and_fails_strict",  # 1.3 s
        "tests/test_adapters.py::test_torch_module_factory_that_is_right_passes_and_one_of_wrong_shape_raises",  # 1.4 s
        "tests/test_adapters.py::test_torch_module_factory_with_relu_where_tanh_is_declared_is_blamed",  # 1.3 s
        "tests/test_agreement.py::test_each_float64_source_is_within_its_error_of_the_50_digit_value[leaky_relu(0.2)-Loss('mse')-l2=0.0]",  # 2.9 s
        "tests/test_agreement.py::test_each_float64_source_is_within_its_error_of_the_50_digit_value[leaky_relu(0.2)-Loss('mse', reduction='elementwise_mean')-l2=0.0]",  # 5.0 s
        "tests/test_agreement.py::test_each_float64_source_is_within_its_error_of_the_50_digit_value[leaky_relu(0.2)-Loss('mse', reduction='sum')-l2=0.001]",  # 1.8 s
        "tests/test_agreement.py::test_each_float64_source_is_within_its_error_of_the_50_digit_value[leaky_relu(0.2)-Loss('mse', reduction='sum')-l2=0.0]",  # 3.3 s
        "tests/test_agreement.py::test_each_float64_source_is_within_its_error_of_the_50_digit_value[softmax-Loss('bce')-l2=0.001]",  # 4.4 s
        "tests/test_agreement.py::test_each_float64_source_is_within_its_error_of_the_50_digit_value[softmax-Loss('bce')-l2=0.0]",  # 18.8 s
        "tests/test_audit.py::test_a_value_finding_carries_the_worst_entries",  # 1.0 s
        "tests/test_audit.py::test_audit_over_a_spec_family_shrinks_and_writes_a_report",  # 2.8 s
        "tests/test_audit.py::test_misbehaviour_is_a_finding_and_the_callers_arrays_are_intact[column-biases]",  # 1.4 s
        "tests/test_audit.py::test_misbehaviour_is_a_finding_and_the_callers_arrays_are_intact[hangs]",  # 2.0 s
        "tests/test_audit.py::test_misbehaviour_is_a_finding_and_the_callers_arrays_are_intact[mutates]",  # 1.4 s
        "tests/test_audit.py::test_misbehaviour_is_a_finding_and_the_callers_arrays_are_intact[nondeterministic]",  # 1.1 s
        "tests/test_audit.py::test_misbehaviour_is_a_finding_and_the_callers_arrays_are_intact[raises]",  # 1.2 s
        "tests/test_audit.py::test_not_implemented_outside_the_declared_support_is_not_a_failure",  # 11.5 s
        "tests/test_bad_input.py::test_bad_input_gets_a_typed_error_that_names_it[plugin-float32]",  # 1.1 s
        "tests/test_bad_input.py::test_bad_input_gets_a_typed_error_that_names_it[plugin-hangs-past-timeout]",  # 2.1 s
        "tests/test_bad_input.py::test_bad_input_gets_a_typed_error_that_names_it[plugin-lists-not-arrays]",  # 1.4 s
        "tests/test_bad_input.py::test_bad_input_gets_a_typed_error_that_names_it[plugin-mutates-inputs]",  # 1.6 s
        "tests/test_bad_input.py::test_bad_input_gets_a_typed_error_that_names_it[plugin-nan]",  # 1.5 s
        "tests/test_bad_input.py::test_bad_input_gets_a_typed_error_that_names_it[plugin-wrong-count]",  # 1.1 s
        "tests/test_bad_input.py::test_bad_input_gets_a_typed_error_that_names_it[plugin-wrong-shape-transposed]",  # 1.1 s
        "tests/test_bench_smoke.py::test_sensitivity_script_prints_every_column_and_catches_1e4_errors",  # 3.1 s
        "tests/test_cli.py::test_audit_exits_1_with_a_diagnosis_on_a_wrong_backprop_and_0_on_a_correct_one",  # 6.1 s
        "tests/test_cli.py::test_audit_layouts_rows_and_flat",  # 2.8 s
        "tests/test_cli.py::test_every_wrong_backprop_is_caught_shrunk_and_blamed_precisely[backward_sum_uses_own_W]",  # 1.2 s
        "tests/test_cli.py::test_every_wrong_backprop_is_caught_shrunk_and_blamed_precisely[bias_mean_over_samples]",  # 1.7 s
        "tests/test_cli.py::test_every_wrong_backprop_is_caught_shrunk_and_blamed_precisely[g_prime_of_A]",  # 1.6 s
        "tests/test_cli.py::test_every_wrong_backprop_is_caught_shrunk_and_blamed_precisely[missing_1_over_m]",  # 1.5 s
        "tests/test_cli.py::test_every_wrong_backprop_is_caught_shrunk_and_blamed_precisely[output_delta_sign_flipped]",  # 1.1 s
        "tests/test_cli.py::test_every_wrong_backprop_is_caught_shrunk_and_blamed_precisely[sigmoid_prime_is_sigmoid]",  # 1.9 s
        "tests/test_cli.py::test_every_wrong_backprop_is_caught_shrunk_and_blamed_precisely[transposed_dW]",  # 2.1 s
        "tests/test_cli.py::test_fast_mode_exit_codes_and_reproduce_line",  # 5.0 s
        "tests/test_cli.py::test_reproduce_lines_keep_the_limits_that_produced_the_finding",  # 1.8 s
        "tests/test_cli.py::test_the_reference_passes_a_campaign",  # 3.8 s
        "tests/test_cli.py::test_the_reproduce_line_replays_the_minimal_case",  # 2.0 s
        "tests/test_cli.py::test_the_same_seed_gives_the_same_report",  # 5.0 s
        "tests/test_cli.py::test_verify_and_audit_honour_the_declared_support_of_a_fixed_depth_classifier",  # 2.5 s
        "tests/test_compare.py::test_rounding_noise_is_not_a_mismatch[softplus-mse-(2, 5, 1, 3)-m1-w1.0]",  # 1.9 s
        "tests/test_crash_safe_reports.py::test_concurrent_runs_into_one_root_never_clobber_each_other[forced-name-clashes]",  # 5.1 s
        "tests/test_crash_safe_reports.py::test_concurrent_runs_into_one_root_never_clobber_each_other[real-names]",  # 5.0 s
        "tests/test_crash_safe_reports.py::test_sigkill_at_random_moments_never_leaves_a_partial_file_under_a_final_name",  # 8.0 s
        "tests/test_diagnose_confirm.py::test_a_bug_absent_at_the_larger_size_loses_its_name",  # 1.5 s
        "tests/test_diagnose_confirm.py::test_a_pattern_found_again_at_the_larger_size_is_kept",  # 1.8 s
        "tests/test_diagnose_confirm.py::test_a_pattern_seen_only_at_width_one_is_not_named",  # 1.4 s
        "tests/test_diagnose_confirm.py::test_origin_names_the_first_wrong_tensor_in_backprop_order",  # 1.6 s
        "tests/test_diagnose_confirm.py::test_origin_of_a_wrong_dW_beside_a_right_db",  # 1.5 s
        "tests/test_fast.py::test_audit_fast_shrinks_a_wrong_backprop_and_passes_a_correct_one",  # 2.2 s
        "tests/test_fast.py::test_check_fast_at_a_kink_leaves_the_verdict_to_the_full_check",  # 1.3 s
        "tests/test_fast.py::test_check_fast_localizes_and_the_full_check_confirms",  # 1.7 s
        "tests/test_fast.py::test_check_fast_reports_a_malformed_output_through_the_full_check",  # 1.4 s
        "tests/test_fast.py::test_no_false_alarm_on_the_reference",  # 2.3 s
        "tests/test_isolation.py::test_a_crash_is_a_finding_and_the_next_call_gets_a_new_worker",  # 1.0 s
        "tests/test_isolation.py::test_a_one_time_raise_is_a_finding_with_a_report_not_a_flaky_error",  # 1.1 s
        "tests/test_isolation.py::test_a_timeout_kills_the_worker_and_what_it_started",  # 2.0 s
        "tests/test_isolation.py::test_tampering_mutation_and_pid_stay_in_the_worker",  # 1.0 s
        "tests/test_meta_corpus.py::test_a_hung_backprop_is_abandoned_after_its_timeout",  # 1.0 s
        # 1 s after the tests whose checks it reuses (one process), 21 s on an xdist worker alone
        "tests/test_meta_corpus.py::test_score_table",
        "tests/test_pytest_plugin.py::test_the_isolation_options_are_checked",  # 4.1 s
        "tests/test_pytest_plugin.py::test_the_plugin_end_to_end",  # 3.6 s
        "tests/test_readme.py::test_readme_audit_commands_exit_as_documented[line0]",  # 1.3 s
        "tests/test_readme.py::test_readme_audit_commands_exit_as_documented[line1]",  # 2.2 s
        "tests/test_readme.py::test_readme_audit_commands_exit_as_documented[line4]",  # 1.2 s
        "tests/test_readme.py::test_readme_audit_commands_exit_as_documented[line7]",  # 2.3 s
        "tests/test_replay.py::test_a_bound_method_through_from_dict_replays_with_every_option",  # 1.1 s
        "tests/test_replay.py::test_an_audit_of_a_closure_writes_python_calls_in_its_report",  # 2.2 s
        "tests/test_replay.py::test_from_rows_with_column_biases_replays_with_its_layout_and_bias",  # 1.2 s
        "tests/test_report.py::test_report_html_renders_in_headless_chromium",  # 3.1 s
        "tests/test_strategies.py::test_find_reaches[large-seed]",  # 2.3 s
        "tests/test_strategies.py::test_the_falsifying_example_is_a_copy_pasteable_constructor_call",  # 3.2 s
        "tests/test_styles.py::test_a_cs231n_classifier_passes_through_from_dict",  # 1.6 s
        "tests/test_styles.py::test_a_factory_made_backprop_passes_from_python_and_from_the_cli",  # 2.6 s
        "tests/test_styles.py::test_an_object_built_at_import_by_the_factory_is_a_target",  # 1.6 s
        "tests/test_styles.py::test_column_biases_pass_through_from_columns",  # 1.3 s
        "tests/test_styles.py::test_factory_bugs_in_a_campaign",  # 3.3 s
        "tests/test_styles.py::test_nielsen_bugs_are_caught_through_the_adapter[cost_derivative_flipped-tensors2]",  # 1.1 s
        "tests/test_styles.py::test_the_cli_audits_a_dict_model_with_layout_dict",  # 3.2 s
        "tests/test_styles.py::test_the_cli_audits_column_biases_and_replays_the_option",  # 1.7 s
        "tests/test_targets.py::test_a_factory_target_fails_on_its_bug_and_replays",  # 2.7 s
        "tests/test_targets.py::test_a_method_target_is_audited_on_the_command_line[MLP().backward]",  # 1.2 s
        "tests/test_targets.py::test_a_method_target_is_audited_on_the_command_line[MLP.backward]",  # 1.1 s
        "tests/test_targets.py::test_names_compared_with_is_get_the_same_verdict_everywhere",  # 1.1 s
        "tests/test_targets.py::test_the_python_api_takes_a_target_string",  # 1.4 s
        "tests/test_usage.py::test_each_usage_error_exits_2_with_its_hint_and_no_report[half_mse-options2-hints2]",  # 1.6 s
        "tests/test_usage.py::test_each_usage_error_exits_2_with_its_hint_and_no_report[summed-options3-hints3]",  # 1.8 s
        "tests/test_usage.py::test_following_each_hint_makes_the_same_code_pass",  # 5.2 s
        "tests/test_usage.py::test_the_api_raises_the_typed_error_and_check_keeps_the_finding",  # 1.8 s
        "tests/test_variants.py::test_a_precision_choice_passes_and_fails_under_strict_exactly_where_it_warns[bce_clipped_dj_da]",  # 2.6 s
        "tests/test_variants.py::test_a_precision_choice_passes_and_fails_under_strict_exactly_where_it_warns[jittered_g_prime]",  # 3.4 s
        "tests/test_variants.py::test_a_precision_choice_passes_and_fails_under_strict_exactly_where_it_warns[softplus_log_exp]",  # 1.8 s
        "tests/test_variants.py::test_a_precision_choice_passes_and_fails_under_strict_exactly_where_it_warns[tanh_through_exp]",  # 1.6 s
        "tests/test_variants.py::test_an_exact_formula_variant_passes_without_warnings[divide_m_at_end]",  # 1.2 s
        "tests/test_variants.py::test_an_exact_formula_variant_passes_without_warnings[einsum_everywhere]",  # 1.0 s
        "tests/test_variants.py::test_an_exact_formula_variant_passes_without_warnings[inv_m_early]",  # 1.1 s
        "tests/test_variants.py::test_from_torch_in_float32_passes_as_float32_and_fails_as_float64",  # 4.8 s
        "tests/test_verdict_tiers.py::test_a_campaign_counts_the_examples_with_warnings",  # 1.3 s
        "tests/test_verdict_tiers.py::test_a_failure_seen_only_at_large_weight_scales_is_robustness",  # 3.0 s
        "tests/test_verdict_tiers.py::test_a_formula_bug_is_found_in_the_formulas_phase",  # 1.8 s
        "tests/test_verdict_tiers.py::test_float32_code_is_judged_as_float32_only_when_declared",  # 1.8 s
        "tests/test_verdict_tiers.py::test_imprecise_entries_pass_with_warnings_everywhere_and_fail_under_strict",  # 1.6 s
    }
)
