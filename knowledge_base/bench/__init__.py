"""Benchmarks (``govbot-bench``); ``faq.main(argv)`` is the FAQ retriever benchmark."""
