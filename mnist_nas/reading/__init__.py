"""Reading digits in users' images: ink, segmentation, the reader, synthetic phone numbers."""
