"""llm/backends"""
